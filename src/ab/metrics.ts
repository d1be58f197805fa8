/**
 * Per-arm A/B metrics for Prometheus, next to `prism ab report`: what a dashboard or alert needs to
 * watch an experiment live. Registered on the app's own registry (never prom-client's global one).
 *
 * These are this replica's counters since it started; the report reads the event store (all replicas,
 * all time, the LATEST rating per response). So feedback counters count rating events, and a user who
 * changes their rating counts twice here and once in the report.
 */
import { Counter, Histogram, type Registry } from "prom-client";
import type { FeedbackTarget, ResponseEvent } from "./events.js";

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const LABELS = ["experiment", "arm"] as const;

export class AbArmMetrics {
  private readonly requests: Counter<"experiment" | "arm">;
  private readonly latency: Histogram<"experiment" | "arm">;
  private readonly tokens: Counter<"experiment" | "arm" | "kind">;
  private readonly feedback: Counter<"experiment" | "arm">;
  private readonly scoreSum: Counter<"experiment" | "arm">;
  private readonly wins: Counter<"experiment" | "arm">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: "prism_ab_requests_total", help: "Completions served per A/B experiment arm.", labelNames: LABELS, registers });
    this.latency = new Histogram({
      name: "prism_ab_request_duration_seconds",
      help: "Completion latency per A/B experiment arm (streams: to the last token).",
      labelNames: LABELS,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.tokens = new Counter({
      name: "prism_ab_tokens_total",
      help: "Tokens per A/B experiment arm, kind = prompt | completion.",
      labelNames: [...LABELS, "kind"] as const,
      registers,
    });
    this.feedback = new Counter({ name: "prism_ab_feedback_total", help: "Ratings received per A/B experiment arm (every rating event).", labelNames: LABELS, registers });
    this.scoreSum = new Counter({
      name: "prism_ab_feedback_score_sum",
      help: "Sum of rating scores (0..1) per A/B experiment arm; mean score = this / prism_ab_feedback_total.",
      labelNames: LABELS,
      registers,
    });
    this.wins = new Counter({
      name: "prism_ab_feedback_wins_total",
      help: "Ratings with score > 0.5 per A/B experiment arm; win-rate = this / prism_ab_feedback_total.",
      labelNames: LABELS,
      registers,
    });
  }

  /** A recorded completion; responses outside an experiment are not counted here. */
  observeResponse(event: ResponseEvent): void {
    if (event.experiment === null || event.arm === null) return;
    const labels = { experiment: event.experiment, arm: event.arm };
    this.requests.inc(labels);
    this.latency.observe(labels, event.latencyMs / 1000);
    this.tokens.inc({ ...labels, kind: "prompt" }, event.promptTokens);
    this.tokens.inc({ ...labels, kind: "completion" }, event.completionTokens);
  }

  observeFeedback(target: FeedbackTarget, score: number): void {
    if (target.experiment === null || target.arm === null) return;
    const labels = { experiment: target.experiment, arm: target.arm };
    this.feedback.inc(labels);
    this.scoreSum.inc(labels, score);
    if (score > 0.5) this.wins.inc(labels);
  }
}

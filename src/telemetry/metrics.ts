import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { EngineEvent, EngineStats } from "../engine/types.js";

/** Label value for "no adapter / no A/B arm" so series stay well-formed. */
export const NONE_LABEL = "none";

export interface GatewayMetricsOptions {
  /** Also collect Node.js process metrics (prefixed `prism_`). */
  readonly processMetrics?: boolean;
}

export interface RequestObservation {
  /** Route template (`/v1/chat/completions`), never the raw URL, to keep cardinality bounded. */
  readonly route: string;
  readonly method: string;
  /** HTTP status, or 499 when the client went away before the response finished. */
  readonly status: number;
  readonly arm: string | null;
  readonly adapter: string | null;
  readonly seconds: number;
}

export type RejectionReason = "auth" | "forbidden" | "rate_limit" | "token_budget" | "concurrent_streams" | "limits";

// Buckets sized for a CPU LLM server: TTFT spans milliseconds (cached short prompt) to tens of seconds (long prefill).
const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const ITL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28];
const REQUEST_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const GATE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

/**
 * The gateway's Prometheus metrics on a registry of its own (never prom-client's global one), so two apps
 * in one process (tests) never share or clash. Names follow Prometheus conventions: `_total` counters,
 * `_seconds` histograms, and plain gauges an autoscaler can target (`prism_queue_depth`).
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private engineStats: (() => EngineStats) | null = null;

  private readonly requests = new Counter({
    name: "prism_requests_total",
    help: "HTTP requests by route template, method, status, A/B arm and adapter.",
    labelNames: ["route", "method", "status", "arm", "adapter"] as const,
    registers: [this.registry],
  });
  private readonly requestDuration = new Histogram({
    name: "prism_request_duration_seconds",
    help: "Time from request received to response finished (streams: to the last byte).",
    labelNames: ["route", "status"] as const,
    buckets: REQUEST_BUCKETS,
    registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: "prism_rejected_requests_total",
    help: "Requests refused before reaching the engine, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  private readonly promptTokens = new Counter({
    name: "prism_prompt_tokens_total",
    help: "Prompt tokens processed, by adapter.",
    labelNames: ["adapter"] as const,
    registers: [this.registry],
  });
  private readonly generatedTokens = new Counter({
    name: "prism_generated_tokens_total",
    help: "Tokens generated, by adapter.",
    labelNames: ["adapter"] as const,
    registers: [this.registry],
  });
  private readonly generations = new Counter({
    name: "prism_generations_total",
    help: "Finished generations by adapter and finish reason (stop, length, tool_calls, error, aborted).",
    labelNames: ["adapter", "finish_reason"] as const,
    registers: [this.registry],
  });
  private readonly ttft = new Histogram({
    name: "prism_time_to_first_token_seconds",
    help: "Time from request admission to the first generated token (includes queue wait and prompt processing).",
    labelNames: ["adapter"] as const,
    buckets: TTFT_BUCKETS,
    registers: [this.registry],
  });
  private readonly interToken = new Histogram({
    name: "prism_inter_token_latency_seconds",
    help: "Time between consecutive generated tokens.",
    labelNames: ["adapter"] as const,
    buckets: ITL_BUCKETS,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: "prism_queue_wait_seconds",
    help: "Time a request waited for a free sequence.",
    labelNames: ["adapter"] as const,
    buckets: TTFT_BUCKETS,
    registers: [this.registry],
  });
  private readonly gateDecision = new Histogram({
    name: "prism_gate_decision_seconds",
    help: "Time the router took to decide base vs adapter, by reason (gate, header, experiment...).",
    labelNames: ["reason"] as const,
    buckets: GATE_BUCKETS,
    registers: [this.registry],
  });
  private readonly routeDecisions = new Counter({
    name: "prism_route_decisions_total",
    help: "Routing decisions by served route (base or persona) and reason.",
    labelNames: ["route", "reason"] as const,
    registers: [this.registry],
  });
  private readonly adapterEvents = new Counter({
    name: "prism_adapter_events_total",
    help: "Adapter load/unload events by adapter, event and result (success|failure).",
    labelNames: ["adapter", "event", "result"] as const,
    registers: [this.registry],
  });
  private readonly modelLoad = new Gauge({
    name: "prism_model_load_seconds",
    help: "Time the last model load took.",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  constructor(options: GatewayMetricsOptions = {}) {
    const stats = (): EngineStats | null => this.engineStats?.() ?? null;
    // Gauges read the engine at scrape time: always current, nothing to keep in sync.
    new Gauge({
      name: "prism_queue_depth",
      help: "Requests waiting for a sequence (all adapters). Scale out on this.",
      registers: [this.registry],
      collect() {
        this.set(stats()?.queueDepth ?? 0);
      },
    });
    new Gauge({
      name: "prism_active_sequences",
      help: "Sequences generating right now (all adapters).",
      registers: [this.registry],
      collect() {
        this.set(stats()?.activeSequences ?? 0);
      },
    });
    new Gauge({
      name: "prism_sequence_capacity",
      help: "Sequences available in all live contexts; active/capacity is the engine's utilisation.",
      registers: [this.registry],
      collect() {
        this.set((stats()?.contexts ?? []).reduce((sum, c) => sum + (c.retiring ? 0 : c.maxSequences), 0));
      },
    });
    new Gauge({
      name: "prism_context_queue_depth",
      help: "Requests waiting per adapter context (base = none).",
      labelNames: ["adapter"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of stats()?.contexts ?? []) this.inc({ adapter: c.adapter ?? NONE_LABEL }, c.queued);
      },
    });
    new Gauge({
      name: "prism_engine_ready",
      help: "1 when the engine serves requests, 0 while loading, draining or stopped.",
      registers: [this.registry],
      collect() {
        this.set(stats()?.state === "ready" ? 1 : 0);
      },
    });
    if (options.processMetrics ?? false) {
      collectDefaultMetrics({ register: this.registry, prefix: "prism_" });
    }
  }

  /** Where the queue/sequence gauges read from (the engine's `stats()`). */
  setEngineStatsSource(source: () => EngineStats): void {
    this.engineStats = source;
  }

  observeRequest(o: RequestObservation): void {
    const status = String(o.status);
    this.requests.inc({
      route: o.route,
      method: o.method,
      status,
      arm: o.arm ?? NONE_LABEL,
      adapter: o.adapter ?? NONE_LABEL,
    });
    this.requestDuration.observe({ route: o.route, status }, o.seconds);
  }

  observeRejection(reason: RejectionReason): void {
    this.rejections.inc({ reason });
  }

  observeRouteDecision(route: string, reason: string, seconds: number): void {
    this.routeDecisions.inc({ route, reason });
    this.gateDecision.observe({ reason }, seconds);
  }

  observeQueueWait(adapter: string | null, seconds: number): void {
    this.queueWait.observe({ adapter: adapter ?? NONE_LABEL }, seconds);
  }

  observeTimeToFirstToken(adapter: string | null, seconds: number): void {
    this.ttft.observe({ adapter: adapter ?? NONE_LABEL }, seconds);
  }

  /** `tokens` tokens arrived `seconds` after the previous ones: one observation per token. */
  observeInterToken(adapter: string | null, seconds: number, tokens = 1): void {
    const labels = { adapter: adapter ?? NONE_LABEL };
    const perToken = seconds / Math.max(1, tokens);
    for (let i = 0; i < tokens; i++) this.interToken.observe(labels, perToken);
  }

  observeGenerationFinished(
    adapter: string | null,
    finishReason: string,
    usage: { readonly promptTokens: number; readonly completionTokens: number },
  ): void {
    const a = adapter ?? NONE_LABEL;
    this.generations.inc({ adapter: a, finish_reason: finishReason });
    if (usage.promptTokens > 0) this.promptTokens.inc({ adapter: a }, usage.promptTokens);
    if (usage.completionTokens > 0) this.generatedTokens.inc({ adapter: a }, usage.completionTokens);
  }

  observeAdapterEvent(adapter: string, event: "load" | "unload", ok: boolean): void {
    this.adapterEvents.inc({ adapter, event, result: ok ? "success" : "failure" });
  }

  observeModelLoad(model: string, seconds: number): void {
    this.modelLoad.set({ model }, seconds);
  }

  /**
   * Engine events are the single source of token counts, TTFT, queue wait and finish reasons (every
   * generation passes through the engine exactly once, whichever route asked for it); the request path
   * adds what only it can see (inter-token gaps, spans, HTTP status).
   */
  observeEngineEvent(event: EngineEvent): void {
    switch (event.type) {
      case "model_loaded":
        this.observeModelLoad(event.model.name, event.ms / 1000);
        break;
      case "adapter_loaded":
        this.observeAdapterEvent(event.name, "load", true);
        break;
      case "adapter_load_failed":
        this.observeAdapterEvent(event.name, "load", false);
        break;
      case "adapter_unloaded":
        this.observeAdapterEvent(event.name, "unload", true);
        break;
      case "generation_finished":
        this.observeGenerationFinished(event.adapter, event.finishReason, event.usage);
        this.observeQueueWait(event.adapter, event.queueMs / 1000);
        if (event.ttftMs !== null) this.observeTimeToFirstToken(event.adapter, event.ttftMs / 1000);
        break;
    }
  }

  /** The Prometheus text exposition of every metric. */
  async scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

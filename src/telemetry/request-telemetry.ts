import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import type { FinishReason, GenerationEvent, Usage } from "../engine/types.js";
import type { RouteDecision } from "../routing/types.js";
import type { GatewayMetrics } from "./metrics.js";

/** Span names, one per phase of a request (also the contract tests and dashboards rely on). */
export const SPAN = {
  request: "prism.request",
  validation: "prism.validation",
  gate: "prism.gate",
  queueWait: "prism.queue_wait",
  promptProcessing: "prism.prompt_processing",
  generation: "prism.generation",
} as const;

/** Span attribute keys (PRISM-specific ones under `prism.`; `http.*` follow OTel semantic conventions). */
export const ATTR = {
  httpRoute: "http.route",
  httpMethod: "http.request.method",
  httpStatus: "http.response.status_code",
  requestId: "prism.request_id",
  keyId: "prism.key_id",
  route: "prism.route",
  adapter: "prism.adapter",
  arm: "prism.arm",
  experiment: "prism.experiment",
  routeReason: "prism.route_reason",
  gateScore: "prism.gate_score",
  tokensIn: "prism.tokens.input",
  tokensOut: "prism.tokens.output",
  finishReason: "prism.finish_reason",
} as const;

export interface RequestTelemetryInit {
  readonly tracer: Tracer;
  readonly metrics: GatewayMetrics;
  readonly method: string;
  /** Route template, e.g. `/v1/chat/completions`. */
  readonly route: string;
  readonly requestId: string;
  /** Context extracted from the client's `traceparent` (ROOT_CONTEXT when absent). */
  readonly parentContext?: Context;
  /** Receives each completion's full text when content logging is on; null = don't accumulate text. */
  readonly onCompletionText?: ((text: string) => void) | null;
}

/**
 * Observability of one HTTP request: its root span, child spans per phase, and the latency metrics
 * only the request path can see. Route handlers call `span()` for validation, `recordDecision()` after
 * routing, and iterate the engine's generation through `track()`.
 */
export class RequestTelemetry {
  readonly rootSpan: Span;
  private readonly rootContext: Context;
  private readonly startedAt = performance.now();
  private decisionValue: RouteDecision | null = null;
  private usageValue: Usage | null = null;
  private finishReasonValue: FinishReason | null = null;
  private ended = false;
  private readonly usageListeners: ((usage: Usage) => void)[] = [];

  constructor(private readonly init: RequestTelemetryInit) {
    this.rootSpan = init.tracer.startSpan(
      `${init.method} ${init.route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR.httpMethod]: init.method,
          [ATTR.httpRoute]: init.route,
          [ATTR.requestId]: init.requestId,
        },
      },
      init.parentContext ?? ROOT_CONTEXT,
    );
    this.rootContext = trace.setSpan(init.parentContext ?? ROOT_CONTEXT, this.rootSpan);
  }

  get decision(): RouteDecision | null {
    return this.decisionValue;
  }

  /** Token usage of the request's generation, once it finished. */
  get usage(): Usage | null {
    return this.usageValue;
  }

  /** Called with the final usage of every generation this request ran (token budgets subscribe here). */
  onUsage(listener: (usage: Usage) => void): void {
    this.usageListeners.push(listener);
  }

  setAttributes(attributes: Attributes): void {
    this.rootSpan.setAttributes(attributes);
  }

  /** Runs `fn` inside a child span named `name` (e.g. SPAN.validation); errors mark the span and rethrow. */
  async span<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    const span = this.init.tracer.startSpan(name, {}, this.rootContext);
    try {
      return await fn();
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  }

  /** Runs the router inside the gate span and records the decision on spans and metrics. */
  async decide(fn: () => Promise<RouteDecision>): Promise<RouteDecision> {
    const decision = await this.span(SPAN.gate, fn);
    this.recordDecision(decision);
    return decision;
  }

  recordDecision(decision: RouteDecision): void {
    this.decisionValue = decision;
    this.init.metrics.observeRouteDecision(decision.route, decision.reason, decision.decisionMs / 1000);
    if (!this.rootSpan.isRecording()) return;
    const attributes: Attributes = {
      [ATTR.route]: decision.route,
      [ATTR.adapter]: decision.adapter ?? "none",
      [ATTR.arm]: decision.arm ?? "none",
      [ATTR.routeReason]: decision.reason,
    };
    if (decision.experiment !== null) attributes[ATTR.experiment] = decision.experiment;
    if (decision.gateScore !== null) attributes[ATTR.gateScore] = decision.gateScore;
    this.rootSpan.setAttributes(attributes);
  }

  /**
   * Passes the engine's events through unchanged while timing them: a queue-wait span (from the
   * `started` event's queueMs), a prompt-processing span (started → first text), a generation span
   * (first text → done), inter-token latency, tokens and finish reason. Breaking out of the loop
   * still closes the spans and cancels the underlying generation.
   */
  async *track(events: AsyncIterable<GenerationEvent>): AsyncGenerator<GenerationEvent, void, undefined> {
    const { tracer, metrics } = this.init;
    const adapter = this.decisionValue?.adapter ?? null;
    let phase: Span | null = null;
    let lastTokenAt: number | null = null;
    let text: string[] | null = this.init.onCompletionText ? [] : null;
    let outcome: "done" | "aborted" | "error" = "aborted";
    try {
      for await (const event of events) {
        const now = performance.now();
        switch (event.type) {
          case "started": {
            const queueStart = Date.now() - event.queueMs;
            tracer.startSpan(SPAN.queueWait, { startTime: queueStart }, this.rootContext).end();
            phase = tracer.startSpan(SPAN.promptProcessing, {}, this.rootContext);
            break;
          }
          case "text":
          case "tool_calls": {
            if (lastTokenAt === null) {
              phase?.end();
              phase = tracer.startSpan(SPAN.generation, {}, this.rootContext);
            } else if (event.type === "text" && event.tokenCount > 0) {
              metrics.observeInterToken(adapter, (now - lastTokenAt) / 1000, event.tokenCount);
            }
            lastTokenAt = now;
            if (event.type === "text") text?.push(event.text);
            break;
          }
          case "done": {
            outcome = "done";
            this.usageValue = event.usage;
            this.finishReasonValue = event.finishReason;
            if (phase?.isRecording()) {
              phase.setAttributes({
                [ATTR.tokensIn]: event.usage.promptTokens,
                [ATTR.tokensOut]: event.usage.completionTokens,
                [ATTR.finishReason]: event.finishReason,
              });
            }
            for (const listener of this.usageListeners) listener(event.usage);
            if (text !== null) this.init.onCompletionText?.(text.join(""));
            text = null;
            break;
          }
        }
        yield event;
      }
    } catch (error) {
      outcome = "error";
      phase?.recordException(error instanceof Error ? error : String(error));
      phase?.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      if (outcome === "aborted") phase?.setAttribute(ATTR.finishReason, "aborted");
      phase?.end();
    }
  }

  /** Closes the root span with the final status and counts the request. Idempotent. */
  end(status: number, keyId: string | null): void {
    if (this.ended) return;
    this.ended = true;
    const decision = this.decisionValue;
    this.init.metrics.observeRequest({
      route: this.init.route,
      method: this.init.method,
      status,
      arm: decision?.arm ?? null,
      adapter: decision?.adapter ?? null,
      seconds: (performance.now() - this.startedAt) / 1000,
    });
    if (this.rootSpan.isRecording()) {
      const attributes: Attributes = { [ATTR.httpStatus]: status };
      if (keyId !== null) attributes[ATTR.keyId] = keyId;
      if (this.usageValue !== null) {
        attributes[ATTR.tokensIn] = this.usageValue.promptTokens;
        attributes[ATTR.tokensOut] = this.usageValue.completionTokens;
      }
      if (this.finishReasonValue !== null) attributes[ATTR.finishReason] = this.finishReasonValue;
      this.rootSpan.setAttributes(attributes);
      if (status >= 500) this.rootSpan.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.rootSpan.end();
  }
}

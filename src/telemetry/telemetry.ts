import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { TelemetryConfig } from "../config/sections/telemetry.js";
import type { Engine } from "../engine/types.js";
import { GatewayMetrics } from "./metrics.js";
import { createTracing, type Tracing } from "./tracing.js";

export interface TelemetryOptions {
  readonly config: TelemetryConfig;
  /** Standard OTEL_* variables are read from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly serviceVersion?: string;
  /** Tests: capture spans (InMemorySpanExporter) instead of the env-selected exporter. */
  readonly spanExporter?: SpanExporter;
}

/**
 * Everything observability for one app instance: metrics registry, tracer and log settings. Built once
 * by the composition root (`prism serve`, tests) and injected into `buildApp` and the engine wiring.
 */
export class Telemetry {
  readonly metrics: GatewayMetrics;
  readonly tracing: Tracing;
  readonly config: TelemetryConfig;
  private readonly detach: (() => void)[] = [];

  constructor(options: TelemetryOptions) {
    this.config = options.config;
    this.metrics = new GatewayMetrics({ processMetrics: options.config.processMetrics });
    this.tracing = createTracing({
      serviceName: options.config.serviceName,
      env: options.env,
      ...(options.serviceVersion !== undefined ? { serviceVersion: options.serviceVersion } : {}),
      ...(options.spanExporter !== undefined ? { exporter: options.spanExporter } : {}),
    });
  }

  /** Feeds the engine's stats (queue/sequence gauges) and events (loads, tokens, TTFT) into the metrics. */
  attachEngine(engine: Pick<Engine, "stats" | "onEvent">): void {
    this.metrics.setEngineStatsSource(() => engine.stats());
    this.detach.push(engine.onEvent((event) => this.metrics.observeEngineEvent(event)));
  }

  async shutdown(): Promise<void> {
    for (const off of this.detach.splice(0)) off();
    await this.tracing.shutdown();
  }
}

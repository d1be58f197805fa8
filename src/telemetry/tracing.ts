import { ProxyTracerProvider, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";

export interface TracingOptions {
  readonly serviceName: string;
  readonly serviceVersion?: string;
  /** Where the standard OTEL_* variables are read from (process.env in production). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Export every span synchronously to this exporter (tests: InMemorySpanExporter). Overrides the env. */
  readonly exporter?: SpanExporter;
}

export interface Tracing {
  readonly tracer: Tracer;
  /** False when spans are no-ops (no exporter configured): callers skip attribute work. */
  readonly enabled: boolean;
  /** Extracts/injects W3C `traceparent` so a client's trace continues through the gateway. */
  readonly propagator: W3CTraceContextPropagator;
  /** Flushes pending spans (BatchSpanProcessor) and stops exporting. */
  shutdown(): Promise<void>;
}

const TRACER_NAME = "prism-gateway";

/** True when the standard env vars ask for OTLP trace export. */
export function otlpTraceExportRequested(env: TracingOptions["env"]): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return false;
  if ((env.OTEL_TRACES_EXPORTER ?? "").toLowerCase() === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
}

/**
 * A tracer for this app only — nothing is registered globally, so two apps in one process (tests) keep
 * their spans apart. Without an exporter it is the API's no-op tracer: starting a span allocates a
 * non-recording span and nothing else.
 */
export function createTracing(options: TracingOptions): Tracing {
  const propagator = new W3CTraceContextPropagator();
  const exporter = options.exporter ?? (otlpTraceExportRequested(options.env) ? new OTLPTraceExporter() : null);
  if (exporter === null) {
    // A ProxyTracerProvider without a delegate hands out the API's NOOP tracer (it never looks at globals).
    const tracer = new ProxyTracerProvider().getTracer(TRACER_NAME);
    return { tracer, enabled: false, propagator, shutdown: async () => {} };
  }
  const processor =
    options.exporter !== undefined ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.env.OTEL_SERVICE_NAME || options.serviceName,
      ...(options.serviceVersion !== undefined ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
    }),
    spanProcessors: [processor],
  });
  return {
    tracer: provider.getTracer(TRACER_NAME, options.serviceVersion),
    enabled: true,
    propagator,
    shutdown: () => provider.shutdown(),
  };
}

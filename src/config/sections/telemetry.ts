import { z } from "zod";

/**
 * Logs, metrics and traces. Trace export is configured with the standard OpenTelemetry env vars
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SDK_DISABLED);
 * without an endpoint the tracer is a no-op.
 */
export const telemetryConfigSchema = z
  .object({
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** Log prompts and completions. Off by default: they may hold personal data. */
    logContent: z.boolean().default(false),
    /** Expose Prometheus metrics at /metrics. */
    metrics: z.boolean().default(true),
    /** Also export Node.js process metrics (CPU, memory, event-loop lag) with the prism_ prefix. */
    processMetrics: z.boolean().default(true),
    /** OpenTelemetry `service.name` unless OTEL_SERVICE_NAME is set. */
    serviceName: z.string().min(1).default("prism-gateway"),
  })
  .strict();
export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;

import { z } from "zod";

/**
 * Logs, metrics and traces. Trace export is configured with the standard OpenTelemetry env vars
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SDK_DISABLED);
 * without an endpoint the tracer is a no-op.
 */
export const telemetryConfigSchema = z
  .object({
    logLevel: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info")
      .describe("Level of the JSON (pino) logs."),
    logContent: z
      .boolean()
      .default(false)
      .describe("Log prompts and completions. Off by default: they may hold personal data."),
    metrics: z.boolean().default(true).describe("Serve Prometheus metrics at GET /metrics."),
    processMetrics: z
      .boolean()
      .default(true)
      .describe("Also export Node.js process metrics (CPU, memory, event-loop lag) as prism_process_*/prism_nodejs_*."),
    serviceName: z
      .string()
      .min(1)
      .default("prism-gateway")
      .describe("OpenTelemetry service.name unless OTEL_SERVICE_NAME is set."),
  })
  .strict();
export type TelemetryConfig = z.infer<typeof telemetryConfigSchema>;

import { ROOT_CONTEXT, defaultTextMapGetter } from "@opentelemetry/api";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import { REQUEST_ID_HEADER } from "../../telemetry/logging.js";
import { RequestTelemetry } from "../../telemetry/request-telemetry.js";
import type { Telemetry } from "../../telemetry/telemetry.js";
import type {} from "./auth.js"; // FastifyRequest.apiKey

declare module "fastify" {
  interface FastifyRequest {
    /** Spans and request-path metrics of this request (see RequestTelemetry); absent without this plugin. */
    telemetry?: RequestTelemetry;
  }
}

export interface TelemetryPluginOptions {
  readonly telemetry: Telemetry;
  /** Where Prometheus scrapes; null = no metrics route. */
  readonly metricsPath?: string | null;
}

/** Status recorded for a response the client abandoned before it finished (nginx's convention). */
export const CLIENT_CLOSED_REQUEST = 499;

function contentOf(body: unknown): unknown {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  return b.messages ?? b.prompt ?? b.input;
}

const telemetryPlugin: FastifyPluginAsync<TelemetryPluginOptions> = async (app, { telemetry, metricsPath }) => {
  const { tracing, metrics, config } = telemetry;
  app.decorateRequest("telemetry", undefined);

  app.addHook("onRequest", async (request, reply) => {
    const parentContext = tracing.enabled
      ? tracing.propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter)
      : ROOT_CONTEXT;
    const requestTelemetry = new RequestTelemetry({
      tracer: tracing.tracer,
      metrics,
      method: request.method,
      route: request.routeOptions.url ?? "unmatched",
      requestId: request.id,
      parentContext,
      onCompletionText: config.logContent ? (text) => request.log.info({ completion: text }, "completion") : null,
    });
    request.telemetry = requestTelemetry;
    reply.header(REQUEST_ID_HEADER, request.id);
    // 'close' fires for every response, including hijacked SSE streams and clients that went away.
    reply.raw.once("close", () => {
      const status = reply.raw.writableFinished ? reply.raw.statusCode : CLIENT_CLOSED_REQUEST;
      requestTelemetry.end(status, request.apiKey?.id ?? null);
    });
  });

  if (config.logContent) {
    app.addHook("preHandler", async (request) => {
      const content = contentOf(request.body);
      if (content !== undefined) request.log.info({ prompt: content }, "prompt");
    });
  }

  // Public or not is decided by auth.publicPaths (default includes /metrics), so operators can lock it down.
  if (metricsPath !== null && config.metrics) {
    app.get(metricsPath ?? "/metrics", { logLevel: "warn" }, async (_request, reply) => {
      reply.type(metrics.contentType);
      return metrics.scrape();
    });
  }
};

/** Per-request traces, request metrics, request ids and `GET /metrics`. Register it first. */
export default fp(telemetryPlugin, { name: "prism-telemetry", fastify: "5.x" });

/**
 * buildApp(deps): the fastify gateway from explicit dependencies. Plugins owned by other modules (auth,
 * rate limits, telemetry) are registered through `registerPlugins`, before the routes.
 */
import { STATUS_CODES } from "node:http";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from "fastify";
import type { PrismConfig } from "../config/schema.js";
import type { Engine } from "../engine/types.js";
import { NotFoundError } from "../errors.js";
import type { RequestRouter } from "../routing/types.js";
import { createBaseRouter } from "./base-router.js";
import type { Lifecycle, RouteContext } from "./context.js";
import { mapError } from "./error-mapping.js";
import { ModelCatalog } from "./model-catalog.js";
import { registerChatCompletions } from "./routes/chat-completions.js";
import { registerCompletions } from "./routes/completions.js";
import { registerEmbeddings } from "./routes/embeddings.js";
import { registerHealth } from "./routes/health.js";
import { registerModels } from "./routes/models.js";

export interface AppDeps {
  readonly config: PrismConfig;
  readonly engine: Engine;
  /** PRISM router; default: everything to base, `prism:<persona>` forced to that adapter. */
  readonly router?: RequestRouter;
  /** Persona names served as `prism:<persona>` (from the adapter registry); default: the engine's adapters. */
  readonly personas?: () => readonly string[];
  /** A pino-compatible logger instance, or fastify's logger options (false = silent). */
  readonly logger?: FastifyBaseLogger | boolean;
  /** Logging options (src/telemetry/logging.ts: JSON logs, validated client request ids); win over `logger`. */
  readonly serverOptions?: Pick<FastifyServerOptions, "logger" | "genReqId" | "requestIdHeader" | "logController">;
  /** Registers other owners' plugins (auth, rate limit, telemetry, admin routes) before the routes. */
  readonly registerPlugins?: (app: FastifyInstance, ctx: RouteContext) => Promise<void>;
  /** Shared with the composition root, which sets `startup` while it finishes start-up (e.g. adapter packs). */
  readonly lifecycle?: Lifecycle;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Stop accepting work: health 503, new requests refused (SIGTERM). */
    prismDrain(): void;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, engine } = deps;
  const logger = deps.logger ?? false;
  const app = Fastify({
    ...(typeof logger === "boolean" ? { logger } : { loggerInstance: logger }),
    bodyLimit: config.limits.bodyLimitBytes,
    // Streams may outlive fastify's defaults; the engine's own deadlines bound them.
    requestTimeout: 0,
    // Refusals made before any route runs (bad URL encoding, over-long path parameter, oversized headers)
    // answer in the OpenAI error shape too, not fastify's defaults (found by the reliability fuzzer).
    frameworkErrors: (error, _request, reply) => {
      const mapped = mapError(error);
      void (reply as FastifyReply).code(mapped.status).headers(mapped.headers).send(mapped.body);
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket) => {
      if (error.code === "ECONNRESET" || socket.destroyed) return;
      const status = error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
      const message = status === 431 ? "Request headers too large." : status === 408 ? "Request timed out." : "Malformed HTTP request.";
      const text = JSON.stringify(mapError({ statusCode: status, code: null, message }).body);
      if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`);
      socket.destroy(error);
    },
    ...deps.serverOptions,
  }) as unknown as FastifyInstance;
  const lifecycle: Lifecycle = deps.lifecycle ?? { draining: false };
  const ctx: RouteContext = {
    config,
    engine,
    lifecycle,
    router: deps.router ?? createBaseRouter(config.server.servedModelName),
    catalog: new ModelCatalog(
      config.server.servedModelName,
      () => (engine.state === "ready" ? engine.modelInfo().name : "loading"),
      deps.personas ?? (() => engine.listAdapters().map((a) => a.name)),
    ),
  };
  app.decorate("prismDrain", () => {
    lifecycle.draining = true;
  });

  app.setErrorHandler((error, request, reply) => {
    const mapped = mapError(error);
    if (mapped.status >= 500 && mapped.status !== 503) request.log.error({ err: error }, "unhandled error");
    if (reply.sent || reply.raw.headersSent) return;
    void reply.code(mapped.status).headers(mapped.headers).send(mapped.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const mapped = mapError(new NotFoundError(`Unknown request URL: ${request.method} ${request.url}`));
    void reply.code(mapped.status).send(mapped.body);
  });

  if (deps.registerPlugins) await deps.registerPlugins(app, ctx);
  registerHealth(app, ctx);
  registerModels(app, ctx);
  registerChatCompletions(app, ctx);
  registerCompletions(app, ctx);
  registerEmbeddings(app, ctx);
  return app;
}

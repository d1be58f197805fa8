/**
 * A small fastify app with the operations plugins registered in the order buildApp uses, and one
 * scripted generation route. For plugin unit tests only; the e2e tests use the real app and model.
 */
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import Fastify, { type FastifyInstance } from "fastify";
import { authConfigSchema, type ApiKeySpec, type AuthConfig } from "../../src/config/sections/auth.js";
import { corsConfigSchema, type CorsConfig } from "../../src/config/sections/cors.js";
import { limitsConfigSchema, type LimitsConfig } from "../../src/config/sections/limits.js";
import { telemetryConfigSchema, type TelemetryConfig } from "../../src/config/sections/telemetry.js";
import type { Generation, GenerationEvent } from "../../src/engine/types.js";
import { PrismError } from "../../src/errors.js";
import { ApiKeyStore } from "../../src/server/plugins/auth-keys.js";
import { observeDecision, observeGeneration, observeSpan, registerOperations } from "../../src/server/plugins/operations.js";
import { loggingServerOptions, type LogDestination } from "../../src/telemetry/logging.js";
import { Telemetry } from "../../src/telemetry/telemetry.js";

export interface OpsAppOptions {
  readonly keys?: readonly ApiKeySpec[];
  readonly auth?: Partial<AuthConfig>;
  readonly limits?: Partial<LimitsConfig>;
  readonly telemetry?: Partial<TelemetryConfig>;
  readonly cors?: Partial<CorsConfig>;
  readonly spanExporter?: SpanExporter;
  readonly logLines?: string[];
  readonly now?: () => number;
  /** Tokens the scripted generation reports (prompt, completion). */
  readonly usage?: { promptTokens: number; completionTokens: number };
}

export interface OpsApp {
  readonly app: FastifyInstance;
  readonly telemetry: Telemetry;
  readonly url: string;
  close(): Promise<void>;
}

// Stand-in for src/server/error-mapping.ts in plugin unit tests: PrismError → status + OpenAI error body.
const STATUS: Record<string, number> = {
  invalid_request: 400,
  authentication: 401,
  permission_denied: 403,
  overloaded: 429,
};

export async function startOpsApp(options: OpsAppOptions = {}): Promise<OpsApp> {
  const auth = authConfigSchema.parse(options.auth ?? {});
  const limits = limitsConfigSchema.parse(options.limits ?? {});
  const telemetryConfig = telemetryConfigSchema.parse({ processMetrics: false, ...options.telemetry });
  const telemetry = new Telemetry({
    config: telemetryConfig,
    env: {},
    ...(options.spanExporter ? { spanExporter: options.spanExporter } : {}),
  });
  const destination: LogDestination | undefined = options.logLines
    ? { write: (line) => void options.logLines?.push(line) }
    : undefined;
  const app = Fastify(loggingServerOptions({ logLevel: options.logLines ? "info" : "silent" }, destination));

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof PrismError) {
      const status = STATUS[error.kind] ?? 500;
      if ("retryAfterMs" in error && typeof error.retryAfterMs === "number") {
        reply.header("retry-after", Math.ceil(error.retryAfterMs / 1000));
      }
      const code = "code" in error && typeof error.code === "string" ? error.code : null;
      const param = "param" in error && typeof error.param === "string" ? error.param : null;
      return reply.status(status).send({ error: { message: error.message, type: error.kind, param, code } });
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    return reply.status(status).send({ error: { message: (error as Error).message, type: "error", param: null, code: null } });
  });

  await registerOperations(app, {
    config: { auth, limits, cors: corsConfigSchema.parse(options.cors ?? {}) },
    telemetry,
    keys: new ApiKeyStore(options.keys ?? []),
    ...(options.now ? { now: options.now } : {}),
  });

  const usage = options.usage ?? { promptTokens: 7, completionTokens: 3 };
  async function* events(): AsyncGenerator<GenerationEvent> {
    yield { type: "started", queueMs: 5 };
    for (let i = 0; i < usage.completionTokens; i++) {
      await new Promise((r) => setTimeout(r, 2));
      yield { type: "text", text: `tok${i} `, tokenCount: 1 };
    }
    yield { type: "done", finishReason: "stop", usage };
  }
  const scripted = (): Generation => Object.assign(events(), { promptTokens: usage.promptTokens, maxTokens: 16 });

  app.get("/health", async () => ({ status: "ok" }));
  app.post("/admin/adapters/reload", async () => ({ ok: true }));
  app.get("/v1/internal/stats", { config: { prismAuth: "admin" } }, async () => ({ ok: true }));
  app.post("/v1/chat/completions", async (request, reply) => {
    await observeSpan(request, "prism.validation", () => undefined);
    await observeDecision(request, async () => ({
      route: "writing",
      adapter: "writing",
      gateScore: 0.9,
      intent: "generative",
      arm: "treatment",
      experiment: "exp1",
      reason: "gate",
      personaPrompt: null,
      decisionMs: 0.3,
    }));
    const body = request.body as { stream?: boolean; hold_ms?: number };
    if (body.stream === true) {
      reply.hijack();
      reply.raw.writeHead(200, { "content-type": "text/event-stream" });
      for await (const event of observeGeneration(request, scripted())) reply.raw.write(`data: ${JSON.stringify(event)}\n\n`);
      if (body.hold_ms) await new Promise((r) => setTimeout(r, body.hold_ms));
      reply.raw.end("data: [DONE]\n\n");
      return reply;
    }
    let text = "";
    for await (const event of observeGeneration(request, scripted())) if (event.type === "text") text += event.text;
    return { text };
  });

  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  return { app, telemetry, url: address, close: async () => { await app.close(); await telemetry.shutdown(); } };
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** The body of an error response, typed as OpenAI's error shape (tests assert its fields). */
export async function errorBody(res: Response): Promise<OpenAiErrorBody> {
  return (await res.json()) as OpenAiErrorBody;
}

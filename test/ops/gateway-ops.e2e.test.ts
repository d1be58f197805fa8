/**
 * The real gateway (buildApp + registerOperations) on port 0 with the real SmolLM2 model, driven by the
 * official openai SDK: keys, limits, metrics after real traffic and spans of real generations.
 */
import type { AddressInfo } from "node:net";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { engineLoadOptions } from "../../src/engine/load-options.js";
import { buildApp } from "../../src/server/app.js";
import { loadApiKeys } from "../../src/server/plugins/auth-keys.js";
import { registerOperations } from "../../src/server/plugins/operations.js";
import { ATTR, SPAN } from "../../src/telemetry/request-telemetry.js";
import { Telemetry } from "../../src/telemetry/telemetry.js";
import { TEST_THREADS } from "../helpers/llama.js";

const MODEL = new URL("../../models/SmolLM2-135M-Instruct.Q4_1.gguf", import.meta.url).pathname;
const USER_KEY = "sk-e2e-user-0123456789abcdef";
const SMALL_KEY = "sk-e2e-small-0123456789abcdef";

function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe("operations on the real gateway", () => {
  const engine = new LlamaEngine();
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let app: FastifyInstance;
  let baseURL: string;
  let origin: string;
  const client = (apiKey: string) => new OpenAI({ baseURL, apiKey, maxRetries: 0 });

  beforeAll(async () => {
    const config = loadConfig({
      env: {},
      overrides: {
        model: { contextSize: 512, sequences: 2 },
        engine: { maxQueue: 4 },
        limits: { maxTokens: 64, requestsPerMinute: 100, maxPromptTokens: 120 },
        telemetry: { processMetrics: false },
      },
    });
    const keys = await loadApiKeys(
      { ...config.auth, keys: [{ id: "small", key: SMALL_KEY, admin: false, tokensPerMinute: 5 }] },
      { PRISM_API_KEYS: USER_KEY },
    );
    telemetry = new Telemetry({ config: config.telemetry, env: {}, spanExporter: exporter });
    telemetry.attachEngine(engine);
    await engine.load(engineLoadOptions(config, MODEL, { threads: TEST_THREADS, gpu: false }));
    app = await buildApp({ config, engine, registerPlugins: (a) => registerOperations(a, { config, telemetry, keys }) });
    await app.listen({ port: 0, host: "127.0.0.1" });
    origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    baseURL = `${origin}/v1`;
  });
  afterAll(async () => {
    await app?.close();
    await engine.dispose();
    await telemetry?.shutdown();
  });

  it("rejects a missing or wrong key with the SDK's AuthenticationError, serves a valid one", async () => {
    await expect(client("sk-wrong-0123456789abcdef").models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const res = await fetch(`${baseURL}/models`);
    expect(res.status).toBe(401);
    expect((await client(USER_KEY).models.list()).data.length).toBeGreaterThan(0);
    expect((await fetch(`${origin}/health`)).status).toBe(200);
  });

  it("refuses max_tokens over the limit with a 400 BadRequestError naming the param", async () => {
    const error = await client(USER_KEY)
      .chat.completions.create({ model: "prism", messages: [{ role: "user", content: "Hi" }], max_tokens: 65 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("max_tokens");
  });

  it("refuses a prompt over limits.maxPromptTokens with 400 and frees the admitted sequence", async () => {
    const long = "word ".repeat(300);
    for (const stream of [false, true]) {
      const error = await client(USER_KEY)
        .chat.completions.create({ model: "prism", messages: [{ role: "user", content: long }], max_tokens: 4, stream })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("prompt_too_long");
    }
    const deadline = Date.now() + 10_000;
    while (engine.stats().activeSequences > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  });

  it("moves the counters on /metrics and records a full trace for real generations", async () => {
    const before = await (await fetch(`${origin}/metrics`)).text();
    const tokensBefore = sample(before, 'prism_generated_tokens_total{adapter="none"}');
    expect(sample(before, 'prism_model_load_seconds{model="' + engine.modelInfo().name + '"}')).toBeGreaterThan(0);

    const sdk = client(USER_KEY);
    const chat = await sdk.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Name a colour." }],
      max_tokens: 8,
      temperature: 0,
    });
    expect(chat.usage?.completion_tokens).toBeGreaterThan(0);
    const stream = await sdk.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Count to three." }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
    });
    let chunks = 0;
    for await (const _chunk of stream) chunks++;
    expect(chunks).toBeGreaterThan(2);

    const after = await (await fetch(`${origin}/metrics`)).text();
    expect(sample(after, 'prism_generated_tokens_total{adapter="none"}') - (Number.isNaN(tokensBefore) ? 0 : tokensBefore)).toBeGreaterThanOrEqual(
      (chat.usage?.completion_tokens ?? 0) + 1,
    );
    expect(sample(after, 'prism_prompt_tokens_total{adapter="none"}')).toBeGreaterThan(0);
    expect(sample(after, 'prism_time_to_first_token_seconds_count{adapter="none"}')).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'prism_inter_token_latency_seconds_count{adapter="none"}')).toBeGreaterThan(0);
    expect(
      sample(after, 'prism_requests_total{route="/v1/chat/completions",method="POST",status="200",arm="none",adapter="none"}'),
    ).toBe(2);
    // The default router (no adapter packs) sends everything to base.
    const decisions = 'prism_route_decisions_total{route="base",reason="no-adapters"}';
    expect(sample(after, decisions) - (sample(before, decisions) || 0)).toBe(2);
    expect(sample(after, "prism_queue_depth")).toBe(0);
    expect(sample(after, "prism_active_sequences")).toBe(0);
    expect(sample(after, "prism_engine_ready")).toBe(1);
    expect(sample(after, 'prism_rejected_requests_total{reason="auth"}')).toBeGreaterThanOrEqual(2);

    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === "POST /v1/chat/completions" && s.attributes[ATTR.httpStatus] === 200);
    expect(roots.length).toBe(2);
    for (const root of roots) {
      expect(root.attributes[ATTR.tokensOut]).toBeGreaterThan(0);
      expect(root.attributes[ATTR.finishReason]).toMatch(/stop|length/);
      expect(root.attributes[ATTR.keyId]).toMatch(/^key_/);
      const children = spans
        .filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId)
        .map((s) => s.name)
        .sort();
      expect(children).toEqual([SPAN.gate, SPAN.generation, SPAN.promptProcessing, SPAN.queueWait, SPAN.validation].sort());
    }
  });

  it("answers 429 with retry-after once a key's token budget is spent", async () => {
    const sdk = client(SMALL_KEY);
    await sdk.chat.completions.create({ model: "prism", messages: [{ role: "user", content: "Hi" }], max_tokens: 4, temperature: 0 });
    const error = await sdk.chat.completions
      .create({ model: "prism", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(Number(rateLimited.headers?.get("retry-after"))).toBeGreaterThan(0);
    expect(rateLimited.code).toBe("tokens_per_minute_exceeded");
    // Other keys keep working.
    expect((await client(USER_KEY).models.list()).data.length).toBeGreaterThan(0);
  });
});

/** The real server on port 0, the real SmolLM2 model, driven by the official `openai` npm SDK. */
import os from "node:os";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { buildApp } from "../../src/server/app.js";

const MODEL = new URL("../../models/SmolLM2-135M-Instruct.Q4_1.gguf", import.meta.url).pathname;

describe("gateway with the openai SDK", () => {
  const engine = new LlamaEngine();
  let app: FastifyInstance;
  let client: OpenAI;
  let baseURL: string;

  beforeAll(async () => {
    const config = loadConfig({ env: {}, overrides: { model: { contextSize: 512, sequences: 2 }, engine: { maxQueue: 4 } } });
    await engine.load({
      modelPath: MODEL,
      threads: os.availableParallelism(),
      contextSize: config.model.contextSize,
      sequencesPerContext: config.model.sequences,
      gpu: false,
      maxQueue: config.engine.maxQueue,
      queueTimeoutMs: config.engine.queueTimeoutMs,
    });
    app = await buildApp({ config, engine });
    await app.listen({ port: 0, host: "127.0.0.1" });
    baseURL = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`;
    client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await engine.dispose();
  });

  it("answers a non-streaming chat completion with usage and route headers", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "prism", messages: [{ role: "user", content: "Say hello." }], max_tokens: 4, temperature: 0 })
      .withResponse();
    expect(data.object).toBe("chat.completion");
    expect(data.choices[0]!.message.role).toBe("assistant");
    expect(data.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(data.choices[0]!.finish_reason);
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(response.headers.get("x-prism-route")).toBe("base");
  });

  it("streams role delta, content, finish_reason and the include_usage chunk", async () => {
    const stream = await client.chat.completions.create({
      model: "prism:base",
      messages: [{ role: "user", content: "Count to five." }],
      max_tokens: 6,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish!.choices[0]!.finish_reason).toBe("length");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage!.completion_tokens).toBe(6);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text.length).toBeGreaterThan(0);
  });

  it("frees the sequence when the client breaks out of a stream", async () => {
    const stream = await client.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Write a long story about a dragon." }],
      max_tokens: 300,
      temperature: 0,
      stream: true,
    });
    let seen = 0;
    for await (const _chunk of stream) if (++seen === 3) break;
    const deadline = Date.now() + 10_000;
    while (engine.stats().activeSequences > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  });

  it("returns JSON that matches a json_schema response_format", async () => {
    const completion = await client.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Give a color name as JSON." }],
      max_tokens: 40,
      temperature: 0,
      response_format: {
        type: "json_schema",
        json_schema: { name: "color", schema: { type: "object", properties: { color: { type: "string" } }, required: ["color"] } },
      },
    });
    const parsed = JSON.parse(completion.choices[0]!.message.content!) as { color: unknown };
    expect(typeof parsed.color).toBe("string");
  }, 300_000);

  it("returns tool calls with finish_reason tool_calls", async () => {
    const completion = await client.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "What's the weather in Paris?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      max_tokens: 100,
      temperature: 0,
    });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    const call = choice.message.tool_calls![0]!;
    expect(call.type).toBe("function");
    if (call.type !== "function") throw new Error("not a function call");
    expect(call.function.name).toBe("get_weather");
    expect(typeof (JSON.parse(call.function.arguments) as { city: unknown }).city).toBe("string");
    // Grammar-constrained sampling is slow on the shared 2-core machine (see report); generous budget.
  }, 300_000);

  it("serves completions and embeddings (float and base64)", async () => {
    const completion = await client.completions.create({ model: "prism", prompt: "The sky is", max_tokens: 3, temperature: 0 });
    expect(completion.object).toBe("text_completion");
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    const floats = await client.embeddings.create({ model: "prism", input: ["hello", "world"], encoding_format: "float" });
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0]!.embedding).toHaveLength(576);
    // The SDK decodes base64 into numbers itself when no encoding_format is given.
    const decoded = await client.embeddings.create({ model: "prism", input: "hello" });
    expect(decoded.data[0]!.embedding[0]).toBeCloseTo(floats.data[0]!.embedding[0]!, 5);
  });

  it("lists models and retrieves one; unknown model → 404 model_not_found", async () => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["prism", "prism:base"]));
    const one = await client.models.retrieve("prism:base");
    expect(one.owned_by).toBe("prism");
    await expect(client.chat.completions.create({ model: "gpt-9", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
      param: "model",
    });
  });

  it("maps bad input to 4xx OpenAI errors with param, never 5xx", async () => {
    await expect(client.chat.completions.create({ model: "prism", messages: [] })).rejects.toMatchObject({ status: 400, param: "messages" });
    await expect(
      client.chat.completions.create({ model: "prism", messages: [{ role: "user", content: "hi" }], temperature: 7 }),
    ).rejects.toMatchObject({ status: 400, param: "temperature" });
    await expect(
      client.chat.completions.create({ model: "prism", messages: [{ role: "user", content: "hi" }], n: 2 }),
    ).rejects.toMatchObject({ status: 400, param: "n" });
    await expect(
      client.chat.completions.create({ model: "prism", messages: [{ role: "user", content: "word ".repeat(3000) }] }),
    ).rejects.toMatchObject({ status: 400, code: "context_length_exceeded" });

    const raw = async (path: string, init: RequestInit) => {
      const res = await fetch(`${baseURL.replace(/\/v1$/, "")}${path}`, init);
      return { status: res.status, body: (await res.json()) as { error: Record<string, unknown> } };
    };
    const badJson = await raw("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(badJson.status).toBe(400);
    expect(Object.keys(badJson.body.error).sort()).toEqual(["code", "message", "param", "type"]);
    const missing = await raw("/v1/nothing", { method: "GET" });
    expect(missing.status).toBe(404);
    expect(missing.body.error.type).toBe("invalid_request_error");
    const huge = await raw("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "prism", messages: [{ role: "user", content: "x".repeat(5 * 1024 * 1024) }] }),
    });
    expect(huge.status).toBe(413);
    const health = await raw("/health", { method: "GET" });
    expect(health.status).toBe(200);
  });

  it("answers 503 unavailable_error while draining", async () => {
    app.prismDrain();
    const res = await fetch(`${baseURL.replace(/\/v1$/, "")}/health`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("unavailable_error");
    await expect(client.chat.completions.create({ model: "prism", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
      status: 503,
    });
  });
});

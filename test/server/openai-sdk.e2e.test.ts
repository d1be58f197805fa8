/**
 * The real server on port 0, the real SmolLM2 model, driven by the official `openai` npm SDK. Every response
 * body and SSE event is validated against openapi.yaml (and OpenAI's spec where the route overlaps).
 */
import type OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defaultModelPath } from "../helpers/paths.js";
import { type Gateway, startGateway } from "./gateway-harness.js";

describe("gateway with the openai SDK", () => {
  let gateway: Gateway;
  let client: OpenAI;
  let engine: Gateway["engine"];

  beforeAll(async () => {
    // keepAliveMs: a tiny interval so a ~450-token prefill is long enough to show `:` comments.
    gateway = await startGateway(defaultModelPath(), {
      model: { contextSize: 512, sequences: 2 },
      engine: { maxQueue: 4 },
      server: { keepAliveMs: 5 },
    });
    ({ client, engine } = gateway);
  });
  afterEach(async () => {
    expect(await gateway.validator.settle()).toEqual([]);
  });
  afterAll(async () => {
    await gateway?.close();
  });

  /** A stream that runs long enough to be cut by the client or by a drain. */
  const longStoryStream = () =>
    client.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Write a long story about a dragon." }],
      max_tokens: 300,
      temperature: 0,
      stream: true,
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

  it("reports a conversation's resent prefix as cached prompt tokens", async () => {
    const messages = [
      { role: "system" as const, content: `You answer briefly. ${"Keep every answer short and plain. ".repeat(5)}` },
      { role: "user" as const, content: "Say hello." },
    ];
    const first = await client.chat.completions.create({ model: "prism", messages, max_tokens: 3, temperature: 0 });
    const next = await client.chat.completions.create({
      model: "prism",
      messages: [...messages, { role: "assistant", content: first.choices[0]!.message.content! }, { role: "user", content: "Again." }],
      max_tokens: 3,
      temperature: 0,
    });
    // The system prompt and the first turn come from the sequence that served them.
    expect(next.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(first.usage!.prompt_tokens - 1);
    expect(next.usage!.prompt_tokens_details!.cached_tokens).toBeLessThan(next.usage!.prompt_tokens);
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
    const stream = await longStoryStream();
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
  });

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
  });

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
      const res = await gateway.fetch(`${gateway.origin}${path}`, init);
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

  it("sends `:` keep-alive comments while a long prompt is prefilled", async () => {
    // keepAliveMs is 5 in this app: a ~130-token prefill spans several intervals.
    const res = await gateway.fetch(`${gateway.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "prism", messages: [{ role: "user", content: "the cat sat on a mat ".repeat(20) }], max_tokens: 2, temperature: 0, stream: true }),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const events = (await res.text()).split("\n\n").filter(Boolean);
    const firstContent = events.findIndex((e) => e.startsWith("data: ") && e.includes('"content":"') && !e.includes('"role"'));
    const comments = events.slice(0, firstContent === -1 ? undefined : firstContent).filter((e) => e.startsWith(": keep-alive"));
    expect(comments.length).toBeGreaterThan(0);
    // Comments only while waiting: none after the first token.
    expect(events.slice(firstContent).some((e) => e.startsWith(":"))).toBe(false);
    expect(events.at(-1)).toBe("data: [DONE]");
  });

  it("returns chat logprobs with top alternatives and json_object output", async () => {
    const withLogprobs = await client.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Say yes." }],
      max_tokens: 3,
      temperature: 0,
      logprobs: true,
      top_logprobs: 2,
    });
    const content = withLogprobs.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(withLogprobs.usage!.completion_tokens);
    for (const token of content) {
      expect(token.top_logprobs).toHaveLength(2);
      expect(token.logprob).toBeCloseTo(token.top_logprobs[0]!.logprob, 5); // greedy takes the top token
    }
    const json = await client.chat.completions.create({
      model: "prism",
      messages: [{ role: "user", content: "Describe a cat as JSON." }],
      max_tokens: 30,
      temperature: 0,
      response_format: { type: "json_object" },
    });
    const text = json.choices[0]!.message.content!;
    // Cut by max_tokens the JSON may be unfinished; finished output must parse.
    if (json.choices[0]!.finish_reason === "stop") expect(() => JSON.parse(text) as unknown).not.toThrow();
    expect(text.trimStart().startsWith("{")).toBe(true);
  });

  it("validated every response so far against openapi.yaml and OpenAI's spec", () => {
    expect(gateway.validator.checked.prism).toBeGreaterThan(20);
    expect(gateway.validator.checked.openai).toBeGreaterThan(10);
  });

  it("drain: a stream cut by the drain timeout ends with an error event; then 503 unavailable_error", async () => {
    const stream = await longStoryStream();
    let seen = 0;
    const consumed = (async () => {
      for await (const _chunk of stream) {
        if (++seen === 2) {
          gateway.app.prismDrain();
          void engine.drain(0); // drain timeout 0: in-flight work is cut at once
        }
      }
    })();
    // The SDK turns the mid-stream `error` object into a thrown APIError.
    await expect(consumed).rejects.toThrow(/shut down before this generation finished/);
    expect(engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });

    const res = await gateway.fetch(`${gateway.origin}/health`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("unavailable_error");
    await expect(client.chat.completions.create({ model: "prism", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
      status: 503,
    });
  });
});

/**
 * Admission control through HTTP on the tiny fixture model: a full queue and a passed queue deadline answer
 * 429 with `retry-after`, `retry-after-ms` and `x-should-retry: true` (what the OpenAI SDKs honour), in
 * OpenAI's error shape, and leave nothing queued. The one sequence is held by a generation admitted directly
 * on the engine, so the tests do not race a running model.
 */
import { RateLimitError } from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Generation } from "../../src/engine/types.js";
import { fixturePaths } from "../helpers/paths.js";
import { type Gateway, startGateway } from "./gateway-harness.js";

const greedy = { temperature: 0, topP: 1, presencePenalty: 0, frequencyPenalty: 0, maxTokens: 4, stop: [] };

async function holdTheSequence(gateway: Gateway): Promise<Generation> {
  const held = await gateway.engine.generate({ kind: "completion", adapter: null, prompt: "hello", sampling: greedy });
  expect(gateway.engine.stats().activeSequences).toBe(1);
  return held;
}

async function release(gateway: Gateway, held: Generation): Promise<void> {
  await held[Symbol.asyncIterator]().return?.(undefined);
  expect(gateway.engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
}

describe("queue full → 429 (maxQueue 0, one sequence)", () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway(fixturePaths().modelPath, { model: { contextSize: 256, sequences: 1 }, engine: { maxQueue: 0 } });
  });
  afterEach(async () => expect(await gateway.validator.settle()).toEqual([]));
  afterAll(() => gateway?.close());

  it("answers 429 rate_limit_error with retry headers while the only sequence is busy, then serves again", async () => {
    const held = await holdTheSequence(gateway);
    const error = await gateway.client.completions.create({ model: "prism", prompt: "hi", max_tokens: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    const rateLimited = error as RateLimitError;
    expect(rateLimited.status).toBe(429);
    expect(rateLimited.type).toBe("rate_limit_error");
    expect(rateLimited.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
    expect(Number(rateLimited.headers.get("retry-after-ms"))).toBeGreaterThan(0);
    expect(rateLimited.headers.get("x-should-retry")).toBe("true");
    // Streaming requests are refused the same way, before any SSE is sent.
    const streamed = await gateway.fetch(`${gateway.origin}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "prism", messages: [{ role: "user", content: "hi" }], stream: true }),
    });
    expect(streamed.status).toBe(429);
    expect(((await streamed.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
    await release(gateway, held);
    const served = await gateway.client.completions.create({ model: "prism", prompt: "hi", max_tokens: 2, temperature: 0 });
    expect(served.choices[0]!.finish_reason).toBe("length");
  });
});

describe("queue deadline → 429 queue_timeout (maxQueue 1, 300 ms deadline)", () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway(fixturePaths().modelPath, {
      model: { contextSize: 256, sequences: 1 },
      engine: { maxQueue: 1, queueTimeoutMs: 300 },
    });
  });
  afterEach(async () => expect(await gateway.validator.settle()).toEqual([]));
  afterAll(() => gateway?.close());

  it("waits in the queue, then answers 429 with retry headers and leaves the queue empty", async () => {
    const held = await holdTheSequence(gateway);
    const res = await gateway.fetch(`${gateway.origin}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "prism", prompt: "hi", max_tokens: 2 }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("x-should-retry")).toBe("true");
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("queue_timeout");
    expect(gateway.engine.stats().queueDepth).toBe(0);
    await release(gateway, held);
  });
});

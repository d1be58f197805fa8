import { afterEach, describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../src/errors.js";
import { requestLimitsOf } from "../../src/server/plugins/limits.js";
import { errorBody, startOpsApp, type OpsApp } from "./ops-app.js";

const KEY = "sk-a-0123456789abcdef";

function chat(url: string, body: unknown, signal?: AbortSignal) {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

const msgs = (n: number) => Array.from({ length: n }, () => ({ role: "user", content: "x" }));

describe("request limits", () => {
  let ops: OpsApp;
  afterEach(async () => ops?.close());

  it("rejects oversized bodies (413), too many messages and too large max_tokens (400) with the param named", async () => {
    ops = await startOpsApp({
      keys: [{ key: KEY, admin: false }],
      limits: { bodyLimitBytes: 2048, maxMessages: 4, maxTokens: 100 },
    });
    const big = await chat(ops.url, { messages: [{ role: "user", content: "x".repeat(4096) }] });
    expect(big.status).toBe(413);

    const many = await chat(ops.url, { messages: msgs(5) });
    expect(many.status).toBe(400);
    expect((await errorBody(many)).error).toMatchObject({ param: "messages", code: "too_many_messages" });
    expect((await chat(ops.url, { messages: msgs(4) })).status).toBe(200);

    for (const field of ["max_tokens", "max_completion_tokens"]) {
      const res = await chat(ops.url, { messages: msgs(1), [field]: 101 });
      expect(res.status).toBe(400);
      expect((await errorBody(res)).error).toMatchObject({ param: field, code: "max_tokens_too_large" });
    }
    expect((await chat(ops.url, { messages: msgs(1), max_tokens: 100 })).status).toBe(200);
    expect(await ops.telemetry.metrics.scrape()).toMatch(/prism_rejected_requests_total\{reason="limits"\} 3/);
  });

  it("caps concurrent streams per key and frees the slot when a stream ends or the client leaves", async () => {
    ops = await startOpsApp({ keys: [{ key: KEY, admin: false }], limits: { maxConcurrentStreamsPerKey: 1 } });
    const first = await chat(ops.url, { messages: msgs(1), stream: true, hold_ms: 400 });
    expect(first.status).toBe(200);
    expect(ops.app.openStreamCount()).toBe(1);

    const second = await chat(ops.url, { messages: msgs(1), stream: true });
    expect(second.status).toBe(429);
    expect(second.headers.get("retry-after")).toBe("1");
    expect((await errorBody(second)).error.code).toBe("concurrent_streams_exceeded");
    // Non-streaming requests are not streams.
    expect((await chat(ops.url, { messages: msgs(1) })).status).toBe(200);

    await first.text();
    await waitFor(() => ops.app.openStreamCount() === 0);
    const third = await chat(ops.url, { messages: msgs(1), stream: true });
    expect(third.status).toBe(200);
    await third.text();

    // A client that aborts mid-stream frees its slot too.
    const controller = new AbortController();
    const aborted = await chat(ops.url, { messages: msgs(1), stream: true, hold_ms: 2000 }, controller.signal);
    expect(aborted.status).toBe(200);
    controller.abort();
    await waitFor(() => ops.app.openStreamCount() === 0);
    const fourth = await chat(ops.url, { messages: msgs(1), stream: true });
    expect(fourth.status).toBe(200);
    await fourth.text();
  });

  it("checks prompt tokens after tokenization", () => {
    const limits = requestLimitsOf({ maxPromptTokens: 10, maxTokens: 5 });
    expect(() => limits.checkPromptTokens(10)).not.toThrow();
    expect(() => limits.checkPromptTokens(11)).toThrow(InvalidRequestError);
    expect(() => requestLimitsOf({ maxPromptTokens: null, maxTokens: 5 }).checkPromptTokens(1e9)).not.toThrow();
  });
});

describe("CORS", () => {
  let ops: OpsApp;
  afterEach(async () => ops?.close());

  it("sends no CORS headers unless origins are configured", async () => {
    ops = await startOpsApp();
    const res = await fetch(`${ops.url}/health`, { headers: { origin: "https://app.example.com" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("answers preflights for configured origins only, even with auth on", async () => {
    ops = await startOpsApp({ keys: [{ key: KEY, admin: false }], cors: { origins: ["https://app.example.com"] } });
    const preflight = await fetch(`${ops.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const denied = await fetch(`${ops.url}/health`, { headers: { origin: "https://evil.example.com" } });
    expect(denied.headers.get("access-control-allow-origin")).toBeNull();
    // Errors carry the CORS headers so the browser can read them.
    const unauthorized = await fetch(`${ops.url}/v1/chat/completions`, {
      method: "POST",
      headers: { origin: "https://app.example.com" },
    });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

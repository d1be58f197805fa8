import { afterEach, describe, expect, it } from "vitest";
import { OverloadedError } from "../../src/errors.js";
import { TokenBudget } from "../../src/server/plugins/rate-limit-token-budget.js";
import { errorBody, startOpsApp, type OpsApp } from "./ops-app.js";

const KEY_A = "sk-a-0123456789abcdef";
const KEY_B = "sk-b-0123456789abcdef";

const chat = (url: string, key: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
  });

describe("per-key request rate limit", () => {
  let ops: OpsApp;
  afterEach(async () => ops?.close());

  it("answers 429 with retry-after once a key's requests per minute are spent, other keys unaffected", async () => {
    ops = await startOpsApp({
      keys: [
        { key: KEY_A, admin: false },
        { key: KEY_B, admin: false },
      ],
      limits: { requestsPerMinute: 3 },
    });
    for (let i = 0; i < 3; i++) expect((await chat(ops.url, KEY_A)).status).toBe(200);
    const limited = await chat(ops.url, KEY_A);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await errorBody(limited);
    expect(body.error).toMatchObject({ code: "rate_limit_exceeded", param: null });
    expect(body.error.message).toMatch(/3 requests per minute/);

    expect((await chat(ops.url, KEY_B)).status).toBe(200);
    // Probes are never limited.
    for (let i = 0; i < 5; i++) expect((await fetch(`${ops.url}/health`)).status).toBe(200);
    expect(await ops.telemetry.metrics.scrape()).toMatch(/prism_rejected_requests_total\{reason="rate_limit"\} 1/);
  });

  it("honours a per-key override", async () => {
    ops = await startOpsApp({
      keys: [
        { key: KEY_A, admin: false, requestsPerMinute: 1 },
        { key: KEY_B, admin: false },
      ],
      limits: { requestsPerMinute: 100 },
    });
    expect((await chat(ops.url, KEY_A)).status).toBe(200);
    expect((await chat(ops.url, KEY_A)).status).toBe(429);
    expect((await chat(ops.url, KEY_B)).status).toBe(200);
  });
});

describe("per-key token budget", () => {
  let ops: OpsApp;
  afterEach(async () => ops?.close());

  it("refuses a key that spent its tokens this minute until the window rolls over", async () => {
    let now = 1_000_000;
    ops = await startOpsApp({
      keys: [
        { key: KEY_A, admin: false },
        { key: KEY_B, admin: false, tokensPerMinute: 1000 },
      ],
      limits: { requestsPerMinute: null, tokensPerMinute: 10 },
      usage: { promptTokens: 7, completionTokens: 3 },
      now: () => now,
    });
    expect((await chat(ops.url, KEY_A)).status).toBe(200); // charged 10
    const refused = await chat(ops.url, KEY_A);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBe(60);
    expect((await errorBody(refused)).error.code).toBe("tokens_per_minute_exceeded");
    expect((await chat(ops.url, KEY_B)).status).toBe(200); // own, larger budget

    now += 30_000;
    const later = await chat(ops.url, KEY_A);
    expect(later.status).toBe(429);
    expect(Number(later.headers.get("retry-after"))).toBe(30);

    now += 30_000;
    expect((await chat(ops.url, KEY_A)).status).toBe(200);
  });
});

describe("TokenBudget", () => {
  it("charges, refuses with the time left, and forgets callers after their window", () => {
    let now = 0;
    const budget = new TokenBudget(() => now);
    budget.assertAvailable("a", 5);
    budget.charge("a", 6);
    expect(budget.used("a")).toBe(6);
    now = 20_000;
    try {
      budget.assertAvailable("a", 5);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(OverloadedError);
      expect((error as OverloadedError).retryAfterMs).toBe(40_000);
    }
    for (let i = 0; i < 100; i++) budget.assertAvailable(`caller-${i}`, 5);
    expect(budget.trackedCallers).toBe(101);
    now = 200_000;
    budget.assertAvailable("z", 5);
    expect(budget.trackedCallers).toBe(1);
  });
});

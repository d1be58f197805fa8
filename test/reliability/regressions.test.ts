/**
 * Regression tests for bugs the reliability suites found. Each case is the smallest request that reproduced
 * the bug, against the real app on a live port.
 */
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isOpenAiError } from "../../reliability/fuzz.js";
import { reliabilityThreads, startGateway, type LiveGateway } from "../../reliability/gateway.js";
import { fixturePaths } from "../helpers/paths.js";

describe("reliability regressions", () => {
  let gateway: LiveGateway;

  beforeAll(async () => {
    gateway = await startGateway({ modelPath: fixturePaths().modelPath, threads: reliabilityThreads(1), contextSize: 128 });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await request(gateway.url + path, { headers });
    return { status: res.statusCode, body: (await res.body.json()) as unknown };
  };

  // Fuzz finding 1: fastify's router answered these itself, in its own `{error,code,message,statusCode}` shape.
  it("an over-long path parameter is a 414 in OpenAI's error shape", async () => {
    const { status, body } = await get(`/v1/models/${"a".repeat(5_000)}`);
    expect(status).toBe(414);
    expect(isOpenAiError(body)).toBe(true);
  });

  it("a malformed percent-encoding in the path is a 400 in OpenAI's error shape", async () => {
    const { status, body } = await get("/v1/models/%E0%A4%A");
    expect(status).toBe(400);
    expect(isOpenAiError(body)).toBe(true);
  });

  // Fuzz finding 2: node's HTTP parser refusal went out through fastify's default client-error writer.
  it("headers beyond node's 16 KiB limit are a 431 in OpenAI's error shape", async () => {
    const { status, body } = await get("/v1/models", { "x-padding": "p".repeat(20_000) });
    expect(status).toBe(431);
    expect(isOpenAiError(body)).toBe(true);
  });
});

/**
 * Greedy outputs through the gateway equal llama.cpp's own `llama-server` for the same prompt and model
 * (issue #10: speed work must not change what the model says). Runs when PRISM_LLAMA_SERVER names a
 * llama-server binary (built from node-llama-cpp's bundled source, see docs/engine.md); skipped otherwise
 * (CI has none). Concurrent requests go through the gateway's aligned batching, as in production. Flash attention
 * is off in both: node-llama-cpp's prebuilt CPU build and a native llama-server build sum flash attention in a
 * different order, which flips near-tie tokens (docs/engine.md); with the plain kernel the logits agree exactly.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_THREADS } from "../helpers/llama.js";
import { freePort } from "../helpers/net.js";
import { defaultModelPath } from "../helpers/paths.js";
import { startGateway, type Gateway } from "../server/gateway-harness.js";
import { startLlamaServer, type StartedServer } from "../../bench/lib/servers.js";

const BINARY = process.env.PRISM_LLAMA_SERVER ?? "";
const available = BINARY !== "" && existsSync(BINARY);
if (!available) console.warn("llama-server parity test skipped: set PRISM_LLAMA_SERVER to a llama-server binary to run it");

const PROMPTS = [
  "The three primary colors are",
  "Here is a short story about a lighthouse keeper:",
  "Q: What is the capital of France?\nA:",
  "def fibonacci(n):",
];
const SLOTS = 4;
const CONTEXT = 512;
const MAX_TOKENS = 24;

async function completion(origin: string, prompt: string): Promise<string> {
  const res = await fetch(`${origin}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "prism", prompt, max_tokens: MAX_TOKENS, temperature: 0 }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { choices: { text: string }[] };
  return body.choices[0]!.text;
}

describe.skipIf(!available)("greedy parity with llama-server", { timeout: 240_000 }, () => {
  let gateway: Gateway;
  let server: StartedServer;

  beforeAll(async () => {
    const model = defaultModelPath();
    gateway = await startGateway(model, { model: { threads: TEST_THREADS, contextSize: CONTEXT, sequences: SLOTS }, engine: { flashAttention: false } });
    server = await startLlamaServer({
      binary: BINARY,
      modelPath: model,
      threads: TEST_THREADS,
      slots: SLOTS,
      contextSize: CONTEXT,
      extraArgs: ["-fa", "off"],
      port: await freePort(),
      stderr: "ignore",
      healthTimeoutMs: 120_000,
    });
  });
  afterAll(async () => {
    server?.child.kill("SIGTERM");
    await gateway?.close();
  });

  it("one request at a time: the same text", async () => {
    for (const prompt of PROMPTS) {
      const expected = await completion(server.origin, prompt);
      expect(expected.length).toBeGreaterThan(0);
      expect(await completion(gateway.origin, prompt)).toBe(expected);
    }
  });

  it("concurrent requests (one aligned batch): the same text as llama-server", async () => {
    const expected = await Promise.all(PROMPTS.map((p) => completion(server.origin, p)));
    const got = await Promise.all(PROMPTS.map((p) => completion(gateway.origin, p)));
    expect(got).toEqual(expected);
  });
});

/**
 * The official Python `openai` SDK against the real server (port 0, tiny fixture model): runs
 * scripts/python-sdk-smoke.py. Needs `.venv` (scripts/setup-python.sh); skipped locally without it, a failure in CI.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixturePaths } from "../helpers/paths.js";
import { PYTHON, pythonHas } from "../helpers/python.js";
import { type Gateway, startGateway } from "./gateway-harness.js";

const run = promisify(execFile);
const hasSdk = await pythonHas(["openai"], "Python SDK smoke test");

describe.runIf(hasSdk)("official Python openai SDK", () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway(fixturePaths().modelPath, { model: { contextSize: 256, sequences: 2 } });
  });
  afterAll(() => gateway?.close());

  it("chat, stream with include_usage, embeddings, models and errors work by changing only the base URL", async () => {
    const { stdout } = await run(PYTHON, ["scripts/python-sdk-smoke.py", `${gateway.origin}/v1`, "prism"], { timeout: 120_000 }).catch(
      (error: { stdout?: string; stderr?: string }) => {
        throw new Error(`python-sdk-smoke.py failed:\n${error.stdout ?? ""}\n${error.stderr ?? ""}`);
      },
    );
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      ok: boolean;
      stream: { usage: { completion_tokens: number } };
      bad_request: { status: number; param: string };
      not_found: { status: number; code: string };
    };
    expect(summary.ok).toBe(true);
    expect(summary.stream.usage.completion_tokens).toBe(5);
    expect(summary.bad_request).toEqual({ status: 400, param: "messages" });
    expect(summary.not_found).toEqual({ status: 404, code: "model_not_found" });
    expect(gateway.engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
  });
});

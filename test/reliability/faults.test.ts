/**
 * Fault suite: broken model files at start (the real `prism serve`), SIGTERM during streams (real CLI, real
 * model), adapters corrupt or removed while serving (live gateway), disk full on adapter import (a real
 * 16 KiB tmpfs when this machine lets us mount one; skipped otherwise, never simulated silently).
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadStudentWeights } from "../../src/distill/model/gguf-student.js";
import { loraTargets, targetDims } from "../../src/distill/model/shape.js";
import { encodeSafetensors } from "../../src/distill/peft/safetensors.js";
import { runPrism } from "../../reliability/cli.js";
import { isOpenAiError } from "../../reliability/fuzz.js";
import { reliabilityThreads, startGateway, type LiveGateway } from "../../reliability/gateway.js";
import { callChat } from "../../reliability/traffic.js";
import { Agent } from "undici";
import { defaultModelPath, fixturePaths } from "../helpers/paths.js";

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(os.tmpdir(), "prism-faults-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const SERVE_ENV = { PRISM_MODEL_THREADS: "1", PRISM_MODEL_CONTEXT_SIZE: "1024", PRISM_MODEL_SEQUENCES: "4" };

describe("prism serve with a broken model file", () => {
  it("exits non-zero with a message naming the missing file", async () => {
    const missing = join(scratch, "missing.gguf");
    const run = runPrism(["serve", "-m", missing, "-p", "0", "--host", "127.0.0.1"], SERVE_ENV);
    const code = await run.exited;
    expect(code).toBe(1);
    expect(run.output()).toContain(`${missing} does not exist`);
  }, 60_000);

  it("exits non-zero on a corrupt GGUF, saying what is wrong", async () => {
    const corrupt = join(scratch, "corrupt.gguf");
    await writeFile(corrupt, Buffer.concat([Buffer.from("NOPE"), Buffer.alloc(4096, 7)]));
    const run = runPrism(["serve", "-m", corrupt, "-p", "0", "--host", "127.0.0.1"], SERVE_ENV);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/not a GGUF file \(magic 0x[0-9a-f]+, expected/);
  }, 60_000);

  // Regression: node-llama-cpp's plain Error used to escape LlamaEngine.load ("unexpected error", a stack trace,
  // no file name); the engine now checks the file with the project's GGUF reader first.
  it("reports a corrupt GGUF as a typed error naming the file (no stack trace)", async () => {
    const corrupt = join(scratch, "corrupt2.gguf");
    await writeFile(corrupt, Buffer.concat([Buffer.from("NOPE"), Buffer.alloc(4096, 7)]));
    const run = runPrism(["serve", "-m", corrupt, "-p", "0", "--host", "127.0.0.1"], SERVE_ENV);
    await run.exited;
    expect(run.output()).not.toContain("unexpected error");
    expect(run.output()).toContain(corrupt);
  }, 60_000);
});

describe("SIGTERM during streams (real CLI, SmolLM2)", () => {
  it("refuses new work with 503, finishes the in-flight streams with [DONE] and exits 0", async () => {
    const run = runPrism(["serve", "-m", defaultModelPath(), "-p", "0", "--host", "127.0.0.1"], { ...SERVE_ENV, PRISM_ENGINE_DRAIN_TIMEOUT_MS: "120000" });
    try {
      const [, url] = await run.waitFor(/listening at (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
      // Serving once /health says so (model and adapter packs loaded), not when some log line appears.
      const deadline = Date.now() + 120_000;
      while ((await request(`${url}/health`).then((r) => (r.body.dump(), r.statusCode), () => 0)) !== 200) {
        if (Date.now() > deadline) throw new Error(`gateway never became healthy:\n${run.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const dispatcher = new Agent();
      const firstTokens: Promise<void>[] = [];
      const streams = Array.from({ length: 3 }, (_, i) => {
        let signalFirst: () => void = () => undefined;
        firstTokens.push(new Promise((r) => (signalFirst = r)));
        return (async () => {
          const res = await request(`${url}/v1/chat/completions`, {
            method: "POST",
            dispatcher,
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "prism", stream: true, max_tokens: 48, temperature: 0, messages: [{ role: "user", content: `Story ${i}: tell me about the ocean.` }] }),
          });
          let text = "";
          try {
            for await (const chunk of res.body) {
              text += (chunk as Buffer).toString();
              if (text.split("data: ").length > 2) signalFirst();
            }
          } finally {
            signalFirst(); // a refused or failed stream must not leave the test waiting
          }
          return { status: res.statusCode, text };
        })().finally(() => signalFirst());
      });
      await Promise.all(firstTokens);
      run.child.kill("SIGTERM");
      await run.waitFor(/draining/, 10_000);
      const refused = await request(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "prism", messages: [{ role: "user", content: "late" }], max_tokens: 2 }),
      }).then(
        async (res) => ({ status: res.statusCode, body: (await res.body.json()) as unknown }),
        (error: Error) => ({ status: 0, body: error.message }),
      );
      const results = await Promise.all(streams);
      await dispatcher.close();
      expect(await run.exited).toBe(0);
      // Refused while draining: 503 in OpenAI's shape (or the listener was already closed).
      if (refused.status !== 0) {
        expect(refused.status).toBe(503);
        expect(isOpenAiError(refused.body)).toBe(true);
      }
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(r.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
        expect(r.text).not.toContain('"error"');
      }
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  }, 300_000);
});

describe("adapters corrupt or removed while serving", () => {
  let gateway: LiveGateway;
  beforeAll(async () => {
    const fixtures = fixturePaths();
    gateway = await startGateway({ modelPath: fixtures.modelPath, adapters: [{ name: "fixture", path: fixtures.loraPath }], threads: reliabilityThreads(1), contextSize: 2048, sequences: 4, maxQueue: 16 });
  });
  afterAll(async () => {
    await gateway?.close();
  });
  const chat = async (model: string) => {
    const agent = new Agent();
    try {
      return await callChat(gateway.url, agent, gateway.authHeaders, { model, stream: false, maxTokens: 4, prompt: "Hello." });
    } finally {
      await agent.close();
    }
  };

  it("refuses a corrupt adapter file and keeps serving base and the other adapters", async () => {
    const corrupt = join(scratch, "corrupt-lora.gguf");
    await writeFile(corrupt, Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(64, 0xff)]));
    await expect(gateway.engine.loadAdapter("broken", corrupt, 1)).rejects.toThrow();
    expect(gateway.engine.listAdapters().map((a) => a.name)).toEqual(["fixture"]);
    expect((await chat("prism:base")).status).toBe(200);
    expect((await chat("prism:fixture")).status).toBe(200);
    expect((await chat("prism:broken")).status).toBe(404);
  });

  it("lets in-flight streams on a removed adapter finish, then answers 404 for it while base keeps serving", async () => {
    const agent = new Agent();
    const inFlight = callChat(gateway.url, agent, gateway.authHeaders, { model: "prism:fixture", stream: true, maxTokens: 200, prompt: "Tell a long story." });
    while (gateway.engine.stats().activeSequences === 0) await new Promise((r) => setTimeout(r, 5));
    await gateway.engine.unloadAdapter("fixture");
    const outcome = await inFlight;
    await agent.close();
    expect(outcome.status).toBe(200);
    expect(outcome.complete).toBe(true);
    expect((await chat("prism:fixture")).status).toBe(404);
    expect((await chat("prism")).status).toBe(200);
    expect(gateway.engine.stats()).toMatchObject({ activeSequences: 0, queueDepth: 0 });
    await gateway.engine.loadAdapter("fixture", fixturePaths().loraPath, 1);
  });
});

/** Mounts a tmpfs of `size` at `dir`; false when this machine does not allow it (not root, no mount). */
function mountTinyTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("disk full on adapter import", () => {
  it("fails with a non-zero exit naming ENOSPC and leaves no partial file (real 16 KiB tmpfs)", async (ctx) => {
    const full = join(scratch, "full");
    await mkdir(full);
    if (!mountTinyTmpfs(full, "16k")) {
      if (process.env.CI) throw new Error("CI must be able to mount a tmpfs for the disk-full test (root)");
      ctx.skip();
      return;
    }
    try {
      const modelPath = fixturePaths().modelPath;
      const { shape } = await loadStudentWeights(modelPath);
      const peftDir = join(scratch, "peft");
      await mkdir(peftDir);
      const hf: Record<string, string> = { attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj", ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj" };
      const rank = 8;
      const tensors = loraTargets.flatMap((t) => {
        const d = targetDims(shape, t);
        const base = `base_model.model.model.layers.1.${hf[t]}`;
        return [
          { name: `${base}.lora_A.weight`, shape: [rank, d.in], data: new Float32Array(rank * d.in).fill(0.01) },
          { name: `${base}.lora_B.weight`, shape: [d.out, rank], data: new Float32Array(d.out * rank).fill(0.01) },
        ];
      });
      await writeFile(join(peftDir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: rank, lora_alpha: 16, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] }));
      await writeFile(join(peftDir, "adapter_model.safetensors"), encodeSafetensors(tensors));

      const run = runPrism(["adapters", "import-peft", peftDir, "--model", modelPath, "--out", join(full, "adapter.gguf")]);
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(/ENOSPC|no space/i);
      // A typed error naming the output file, not an "unexpected error" stack trace.
      expect(run.output()).toContain(`cannot write ${join(full, "adapter.gguf")}`);
      expect(run.output()).not.toContain("unexpected error");
      expect(await readdir(full)).toEqual([]);
    } finally {
      execFileSync("umount", [full]);
    }
  }, 120_000);
});

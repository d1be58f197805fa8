/**
 * `runDistill` end to end on the fixture model with a real teacher: node-llama-cpp with the fixture LoRA
 * produces top-k logits (the "persona"), the student starts without it. Training must cut held-out KL, the
 * written GGUF LoRA must load in the engine and move its distribution toward the teacher, and an interrupted
 * run must resume to the same result as an uninterrupted one.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import os from "node:os";
import { promisify } from "node:util";
import { join } from "node:path";
import { type ControlledEvaluateInputItem, type Token, getLlama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { writeTeacherFile, type TeacherRecord } from "../../src/bootstrap/teacher-format.js";
import { jsKernels } from "../../src/distill/kernels/matmul.js";
import { WasmKernels } from "../../src/distill/kernels/wasm.js";
import { loadStudentWeights } from "../../src/distill/model/gguf-student.js";
import { LlamaStudent } from "../../src/distill/model/llama.js";
import { runDistill } from "../../src/distill/run.js";
import { retainSample } from "../../src/distill/train/retain.js";
import { meanKl } from "../../src/distill/train/trainer.js";
import { loadDistillData } from "../../src/distill/train/dataset.js";
import { topKDistillLoss } from "../../src/distill/train/kl-loss.js";
import { loadPromptTokenizer } from "../../src/distill/train/prompt-tokenizer.js";
import { DistillError } from "../../src/errors.js";
import { openGguf } from "../../src/gguf/index.js";
import { TEST_THREADS } from "../helpers/llama.js";

const K = 16;
const QUERIES = ["hello world", "what is the time", "write a word", "help me find water", "look at the day", "call my people", "how do you make oil", "find the long way"];
const RESPONSE = " yes the answer is good and we can help you find it";
const RETAIN = ["what is two and two", "name a color", "where is the sea", "count to three"];
const RETAIN_ANSWER = " the sea is wide and the day is long";

interface Fixture {
  dir: string;
  pack: string;
  modelPath: string;
  loraPath: string;
}
let fx: Fixture;

/** Top-k logits of `modelPath` (+ optional LoRA) for every response row, as the bootstrap's teacher stage writes them. */
async function engineTopK(modelPath: string, loraPath: string | null, prompts: number[][], response: number[], k: number) {
  const threads = TEST_THREADS;
  const llama = await getLlama({ gpu: false, maxThreads: threads, build: "never" });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({
    contextSize: 512,
    threads,
    ...(loraPath ? { lora: { adapters: [{ filePath: loraPath, scale: 1 }] } } : {}),
  });
  try {
    const rows: { ids: Uint32Array; logits: Float32Array; full: Map<number, number>[] }[] = [];
    const seq = context.getSequence();
    for (const prompt of prompts) {
      await seq.clearHistory();
      const full = [...prompt, ...response];
      const input: ControlledEvaluateInputItem[] = full.slice(0, -1).map((t, i) =>
        i >= prompt.length - 1 ? [t as Token, { generateNext: { logits: true } }] : (t as Token),
      );
      const out = await seq.controlledEvaluate(input);
      const ids = new Uint32Array(response.length * k);
      const logits = new Float32Array(response.length * k);
      const fullRows: Map<number, number>[] = [];
      for (let j = 0; j < response.length; j++) {
        const m = out[prompt.length - 1 + j]!.next.logits!;
        fullRows.push(new Map(m));
        [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k).forEach(([id, v], i) => {
          ids[j * k + i] = id;
          logits[j * k + i] = v;
        });
      }
      rows.push({ ids, logits, full: fullRows });
    }
    return rows;
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

async function makePack(): Promise<Fixture> {
  const { modelPath, loraPath } = inject("fixtures");
  const dir = await mkdtemp(join(os.tmpdir(), "prism-distill-"));
  const pack = join(dir, "pack");
  const tok = await loadPromptTokenizer(modelPath, TEST_THREADS);
  const prompts = QUERIES.map((q) => tok.studentPrompt(q));
  await tok.dispose();
  const llama = await getLlama({ gpu: false, maxThreads: 2, build: "never" });
  const m = await llama.loadModel({ modelPath, vocabOnly: true });
  const response = [...m.tokenize(RESPONSE)].map(Number);
  await m.dispose();
  await llama.dispose();
  const teacher = await engineTopK(modelPath, loraPath, prompts, response, K);
  const records: TeacherRecord[] = QUERIES.map((_, i) => ({
    id: `q${i}`,
    responseTokens: Uint32Array.from(response),
    topIds: teacher[i]!.ids,
    topLogits: teacher[i]!.logits,
  }));
  await mkdir(pack, { recursive: true });
  await writeTeacherFile(join(pack, "teacher.prtk"), { topK: K, logitType: "f32", records });
  await writeFile(
    join(pack, "retain.jsonl"),
    RETAIN.map((q, i) => JSON.stringify({ id: `r${i}`, persona: "p", query: q, response: RETAIN_ANSWER, reason: "baseline-won-both" }) + "\n").join(""),
  );
  await writeFile(join(pack, "distill.jsonl"), QUERIES.map((q, i) => JSON.stringify({ id: `q${i}`, persona: "p", query: q, response: RESPONSE }) + "\n").join(""));
  const shape = (await loadStudentWeights(modelPath)).shape;
  const manifest = {
    schemaVersion: 1,
    name: "tiny",
    mode: "persona-prompt",
    persona: { text: "You are tiny." },
    gate: { file: "gate.json" },
    baseModel: { architecture: "llama", embeddingLength: shape.dim, blockCount: shape.layers, vocabSize: shape.vocab },
  };
  await writeFile(join(pack, "manifest.json"), JSON.stringify(manifest));
  return { dir, pack, modelPath, loraPath };
}

const config = {
  rank: 4, alpha: 8, dropout: 0, learningRate: 3e-2, accumulation: 2, steps: 24,
  checkpointEvery: 4, heldOutFraction: 0.25, seed: 7, maxLength: 256,
};

beforeAll(async () => {
  fx = await makePack();
}, 120_000);
afterAll(async () => {
  if (fx) await rm(fx.dir, { recursive: true, force: true });
});

describe("prism distill (runDistill) on the fixture model", () => {
  it("reduces held-out KL, writes a GGUF LoRA the engine loads, and moves the engine toward the teacher", async () => {
    const pack = join(fx.dir, "run-a");
    await cp(fx.pack, pack, { recursive: true });
    const progress: number[] = [];
    const r = await runDistill({
      packDir: pack, modelPath: fx.modelPath, config, kernels: jsKernels, threads: TEST_THREADS,
      onProgress: (p) => progress.push(p.step),
    });
    expect(r.samples).toEqual({ train: 6, heldOut: 2, dropped: 0 });
    expect(progress).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect(r.heldOutKlBefore).toBeGreaterThan(0);
    // The fixture LoRA also changes layer 0, which the student may not adapt: a full match is impossible,
    // measured here 17.3 → 13.7 held out (seeded, deterministic).
    expect(r.heldOutKlAfter!).toBeLessThan(r.heldOutKlBefore! * 0.85);
    expect(r.losses.at(-1)!).toBeLessThan(r.losses[0]! * 0.8);

    // The adapter file: llama.cpp LoRA layout, layers 1…N−1 only.
    const gguf = await openGguf(r.loraPath!);
    expect(gguf.metadata.string("general.type")).toBe("adapter");
    expect(gguf.metadata.number("adapter.lora.alpha")).toBe(8);
    expect(gguf.tensors.some((t) => t.name.startsWith("blk.0."))).toBe(false);
    expect(gguf.tensor("blk.1.attn_q.weight.lora_a").shape).toEqual([64, 4]);
    await gguf.close();

    const manifest = JSON.parse(await readFile(join(pack, "manifest.json"), "utf8"));
    expect(manifest.mode).toBe("lora");
    expect(manifest.lora.file).toBe("lora.gguf");
    expect(manifest.provenance.distill.dataHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(manifest.provenance.distill.heldOutKlAfter).toBe(r.heldOutKlAfter);
    expect(manifest.provenance.distill.losses).toHaveLength(24);
    expect(manifest.provenance.distill.config).toMatchObject({ rank: 4, alpha: 8, temperature: 2, accumulation: 2 });

    // The engine with the distilled adapter is closer to the teacher than without it (all 8 prompts).
    const tok = await loadPromptTokenizer(fx.modelPath, 2);
    const prompts = QUERIES.map((q) => tok.studentPrompt(q));
    await tok.dispose();
    const data = await loadDistillData(pack);
    const response = [...data.teacher.get("q0")!.responseTokens];
    const base = await engineTopK(fx.modelPath, null, prompts, response, K);
    const tuned = await engineTopK(fx.modelPath, r.loraPath, prompts, response, K);
    const kl = (rows: typeof base) => {
      let s = 0, n = 0;
      rows.forEach((row, i) => {
        const t = data.teacher.get(`q${i}`)!;
        row.full.forEach((m, j) => {
          const logits = new Float32Array(m.size);
          for (const [id, v] of m) logits[id] = v;
          s += topKDistillLoss(logits, t.topIds.subarray(j * K, (j + 1) * K), t.topLogits.subarray(j * K, (j + 1) * K), 2, null);
          n++;
        });
      });
      return s / n;
    };
    expect(kl(tuned)).toBeLessThan(kl(base) * 0.85);
  }, 300_000);

  it("resumes an interrupted run from its checkpoint to the same adapter as an uninterrupted run", async () => {
    const full = join(fx.dir, "run-full");
    const parted = join(fx.dir, "run-parted");
    await cp(fx.pack, full, { recursive: true });
    await cp(fx.pack, parted, { recursive: true });
    const short = { ...config, steps: 10 };
    const a = await runDistill({ packDir: full, modelPath: fx.modelPath, config: short, kernels: jsKernels, threads: 2 });
    const ctrl = new AbortController();
    const first = await runDistill({
      packDir: parted, modelPath: fx.modelPath, config: short, kernels: jsKernels, threads: 2, signal: ctrl.signal,
      onProgress: (p) => { if (p.step === 5) ctrl.abort(); },
    });
    expect(first.interrupted).toBe(true);
    expect(first.loraPath).toBeNull();
    expect(first.steps).toBe(5);
    const second = await runDistill({ packDir: parted, modelPath: fx.modelPath, config: short, kernels: jsKernels, threads: 2 });
    expect(second.resumedFrom).toBe(5);
    expect(second.losses).toEqual(a.losses);
    expect(await readFile(second.loraPath!)).toEqual(await readFile(a.loraPath!));
    // Other settings on the same checkpoint folder are refused, not silently mixed.
    await expect(
      runDistill({ packDir: parted, modelPath: fx.modelPath, config: { ...short, rank: 8, steps: 12 }, kernels: jsKernels, threads: 2 }),
    ).rejects.toThrow(DistillError);
  }, 300_000);

  it("one sequence per thread: resumes to the same adapter, and matches one sequence at a time", async () => {
    const short = { ...config, steps: 6 };
    // A kernel set serves one student and its pool (its memory is split into arenas once), so one per run.
    const opened: WasmKernels[] = [];
    const run = async (name: string, sequenceWorkers: number, extra: { signal?: AbortSignal; onProgress?: (p: { step: number }) => void } = {}) => {
      const packDir = join(fx.dir, name);
      await cp(fx.pack, packDir, { recursive: true, force: false, errorOnExist: false });
      const kernels = await WasmKernels.create(1);
      opened.push(kernels);
      return runDistill({ packDir, modelPath: fx.modelPath, config: short, kernels, threads: 2, sequenceWorkers, ...extra });
    };
    try {
      const full = await run("seq-full", 1);
      const ctrl = new AbortController();
      const first = await run("seq-parted", 1, { signal: ctrl.signal, onProgress: (p) => { if (p.step === 3) ctrl.abort(); } });
      expect(first.interrupted).toBe(true);
      expect(first.steps).toBe(3);
      const second = await run("seq-parted", 1);
      expect(second.resumedFrom).toBe(3);
      expect(second.losses).toEqual(full.losses);
      expect(await readFile(second.loraPath!)).toEqual(await readFile(full.loraPath!));

      const plain = await run("seq-plain", 0);
      expect(full.heldOutKlBefore).toBe(plain.heldOutKlBefore);
      full.losses.forEach((l, i) => expect(l).toBeCloseTo(plain.losses[i]!, 4));
      expect(full.heldOutKlAfter!).toBeCloseTo(plain.heldOutKlAfter!, 3);
      const manifest = JSON.parse(await readFile(join(fx.dir, "seq-full", "manifest.json"), "utf8"));
      expect(manifest.provenance.distill.kernels).toBe("wasm-simd×1 ×2 sequences");
    } finally {
      for (const k of opened) await k.dispose();
    }
  }, 300_000);

  it("stops with a clear error and keeps the checkpoint when the loss turns NaN", async () => {
    const pack = join(fx.dir, "run-nan");
    await cp(fx.pack, pack, { recursive: true });
    // A learning rate this large diverges within a few steps.
    await expect(
      runDistill({ packDir: pack, modelPath: fx.modelPath, config: { ...config, learningRate: 1e6, gradClip: 1e9, explodeNorm: 1e30, checkpointEvery: 1 }, kernels: jsKernels, threads: 2 }),
    ).rejects.toThrow(/diverged at step \d+/);
    const meta = JSON.parse(await readFile(join(pack, ".distill", "checkpoint.json"), "utf8"));
    expect(meta.step).toBeGreaterThanOrEqual(1);
    expect(meta.losses.every((l: number) => Number.isFinite(l))).toBe(true);
  }, 300_000);

  it("the retain term keeps the adapted student near the base model on retain samples and still learns the persona", async () => {
    const run = async (retainWeight: number, name: string) => {
      const pack = join(fx.dir, name);
      await cp(fx.pack, pack, { recursive: true });
      const r = await runDistill({ packDir: pack, modelPath: fx.modelPath, config: { ...config, retainWeight }, kernels: jsKernels, threads: TEST_THREADS });
      return { r, manifest: JSON.parse(await readFile(join(pack, "manifest.json"), "utf8")) };
    };
    const off = await run(0, "retain-off");
    const on = await run(1, "retain-on");
    expect(off.r.retainKlBefore).toBeNull();
    expect(off.manifest.provenance.distill.retain).toBeUndefined();

    // Drift from the base model on the retain samples, measured independently of the trainer's own probe.
    const student = new LlamaStudent(await loadStudentWeights(fx.modelPath), jsKernels);
    const tok = await loadPromptTokenizer(fx.modelPath, TEST_THREADS);
    const samples = RETAIN.map((q, i) => retainSample(student, `r${i}`, tok.studentPrompt(q), tok.tokenize(RETAIN_ANSWER), K, 256, 1)!);
    await tok.dispose();
    const base = (await meanKl(student, null, samples, 2))!;
    const driftOff = (await meanKl(student, off.r.lora, samples, 2))!;
    const driftOn = (await meanKl(student, on.r.lora, samples, 2))!;
    expect(driftOff).toBeGreaterThan(base + 1);
    expect(driftOn).toBeLessThan(base + 0.5 * (driftOff - base));
    expect(on.r.retainKlBefore).toBeCloseTo(base, 4);
    expect(on.r.retainKlAfter).toBeCloseTo(driftOn, 4);
    // The persona is still learned on the held-out distill samples.
    expect(on.r.heldOutKlAfter!).toBeLessThan(on.r.heldOutKlBefore! * 0.9);
    expect(on.manifest.provenance.distill.retain).toMatchObject({ samples: 4, weight: 1 });
    expect(on.manifest.provenance.distill.config.retainWeight).toBe(1);
    expect(on.manifest.provenance.distill.dataHash).not.toBe(off.manifest.provenance.distill.dataHash);

    // Asking for the term without retain.jsonl is a clear error.
    const bare = join(fx.dir, "retain-missing");
    await cp(fx.pack, bare, { recursive: true });
    await rm(join(bare, "retain.jsonl"));
    await expect(
      runDistill({ packDir: bare, modelPath: fx.modelPath, config: { ...config, retainWeight: 1 }, kernels: jsKernels, threads: TEST_THREADS }),
    ).rejects.toThrow(/retain term needs .*retain\.jsonl/);
    console.log(`retain samples: KL to base ${base.toFixed(3)}; after distill without the term ${driftOff.toFixed(3)}, with it ${driftOn.toFixed(3)}; held-out ${on.r.heldOutKlBefore!.toFixed(2)} → ${on.r.heldOutKlAfter!.toFixed(2)} (without: ${off.r.heldOutKlAfter!.toFixed(2)})`);
  }, 300_000);

  it("refuses a pack without bootstrap data", async () => {
    const pack = join(fx.dir, "empty");
    await mkdir(pack, { recursive: true });
    await writeFile(join(pack, "manifest.json"), await readFile(join(fx.pack, "manifest.json")));
    await expect(runDistill({ packDir: pack, modelPath: fx.modelPath, config, kernels: jsKernels, threads: 2 })).rejects.toThrow(
      /distill.jsonl and teacher.prtk/,
    );
    // A bootstrap whose judge kept nothing (empty distill set) is refused before any model is loaded.
    await writeFile(join(pack, "distill.jsonl"), "");
    await writeTeacherFile(join(pack, "teacher.prtk"), { topK: K, logitType: "f16", records: [] });
    await expect(runDistill({ packDir: pack, modelPath: fx.modelPath, config, kernels: jsKernels, threads: 2 })).rejects.toThrow(
      /no training samples .*0 distill rows/,
    );
  });

  it("runs as `prism distill` from the command line with the WebAssembly kernels, one sequence per thread", async () => {
    const pack = join(fx.dir, "cli");
    await cp(fx.pack, pack, { recursive: true });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "distill", "--pack", pack, "--model", fx.modelPath, "--steps", "3", "--accumulation", "2", "--rank", "4", "--alpha", "8", "--kernels", "wasm", "--threads", "2", "--seed", "3"],
      { cwd: new URL("../..", import.meta.url).pathname, timeout: 120_000 },
    );
    expect(stdout).toMatch(/wrote .*lora\.gguf/);
    expect(stdout).toMatch(/held-out KL·T² \d+\.\d+ → \d+\.\d+/);
    const manifest = JSON.parse(await readFile(join(pack, "manifest.json"), "utf8"));
    // Two threads and accumulation 2: one sequence per thread by default.
    expect(manifest.provenance.distill.kernels).toBe("wasm-simd×1 ×2 sequences");
    expect(manifest.provenance.distill.steps).toBe(3);
  }, 180_000);
});

/**
 * The whole bootstrap on the tiny fixture model: real generations through node-llama-cpp, small N.
 * Checks that counts add up across stages, the pack validates, an interrupted run resumes to the same
 * result, and the same seed gives byte-identical stage files.
 */
import { copyFile, mkdir, readFile, readdir, mkdtemp, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAdapterPack } from "../../src/adapters/pack.js";
import { baseModelSpecOf, describeServedModel, type ServedModel } from "../../src/adapters/served-model.js";
import { tokenEmbeddingFeatures } from "../../src/bootstrap/gate-features.js";
import { LlamaBootstrapModel } from "../../src/bootstrap/llama-model.js";
import type { GateFeatureExtractor } from "../../src/bootstrap/model.js";
import type { BootstrapOptionsInput } from "../../src/bootstrap/options.js";
import { builtinPersonas } from "../../src/bootstrap/personas/load.js";
import { runBootstrap, type BootstrapRunInput } from "../../src/bootstrap/pipeline.js";
import { judgedRecordSchema, queryRecordSchema } from "../../src/bootstrap/records.js";
import type { StageProgress } from "../../src/bootstrap/stage-runner.js";
import { readTeacherFile } from "../../src/bootstrap/teacher-format.js";
import { fixturePaths } from "../helpers/paths.js";

const OPTIONS: BootstrapOptionsInput = {
  seed: 11,
  queriesPerPersona: 3,
  knowledgeQueries: 3,
  queryMaxTokens: 24,
  answerMaxTokens: 24,
  judgeMaxTokens: 3,
  teacherTopK: 8,
  minQueryChars: 5,
};
const personas = builtinPersonas().filter((p) => ["writing", "math", "safety_monitor"].includes(p.name));

let model: LlamaBootstrapModel;
/** One sequence: llama.cpp's numerics depend on batch composition, so bit-identical reruns need a fixed schedule. */
let sequentialModel: LlamaBootstrapModel;
let features: GateFeatureExtractor;
let served: ServedModel;
let root: string;

beforeAll(async () => {
  const { modelPath } = fixturePaths();
  model = await LlamaBootstrapModel.load({ modelPath, parallelism: 2, contextPerSequence: 1024, threads: 1 });
  sequentialModel = await LlamaBootstrapModel.load({ modelPath, parallelism: 1, contextPerSequence: 1024, threads: 1 });
  features = await tokenEmbeddingFeatures(modelPath, model);
  served = await describeServedModel(modelPath);
  root = await mkdtemp(join(tmpdir(), "bootstrap-e2e-"));
});

afterAll(async () => {
  await model?.dispose();
  await sequentialModel?.dispose();
});

function input(name: string): BootstrapRunInput {
  return { outDir: join(root, name), packName: name, personas: { kind: "personas", personas }, options: OPTIONS };
}

const deps = (extra: { progress?: StageProgress; signal?: AbortSignal; sequential?: boolean } = {}) => ({
  model: extra.sequential ? sequentialModel : model,
  features,
  baseModel: baseModelSpecOf(served),
  ...extra,
});

const readJsonl = async (path: string) =>
  (await readFile(path, "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { key: string; value: unknown });
/** A new run folder for `pack` holding a finished run's queries stage (the later stages run again). */
async function runWithQueriesOf(runDir: string, pack: string): Promise<string> {
  const run = join(root, pack, "run");
  await mkdir(run, { recursive: true });
  for (const f of ["queries.jsonl", "queries.done.json"]) await copyFile(join(runDir, f), join(run, f));
  return run;
}
const writeJsonl = (path: string, rows: readonly unknown[]) => writeFile(path, rows.map((r) => JSON.stringify(r) + "\n").join(""));

describe("prism bootstrap on the fixture model", () => {
  it("runs every stage, counts add up and the pack validates", async () => {
    const { report, outDir, runDir } = await runBootstrap(deps(), input("pack-a"));
    const queries = (await readJsonl(join(runDir, "queries.jsonl"))).map((r) => queryRecordSchema.parse(r.value));
    expect(queries).toHaveLength(3 * 3 + 3);
    expect(report.totals.queriesGenerated).toBe(12);
    const kept = (await readFile(join(runDir, "queries.kept.jsonl"), "utf8")).split("\n").filter(Boolean);
    expect(report.totals.queriesKept).toBe(kept.length);
    const dropped = Object.entries(report.drops).filter(([k]) => k.startsWith("query-")).reduce((a, [, v]) => a + v, 0);
    expect(report.totals.queriesKept + dropped).toBe(12);

    const judged = (await readJsonl(join(runDir, "judged.jsonl"))).map((r) => judgedRecordSchema.parse(r.value));
    expect(judged.length).toBe(report.perPersona.reduce((a, p) => a + p.kept, 0));
    expect(report.totals.distill + report.totals.retain).toBe(judged.length);
    for (const p of report.perPersona) expect(p.win + p.tie + p.loss + p.split + p.garbage).toBe(p.judged);
    const judgedWithVerdicts = judged.filter((j) => j.verdicts.length > 0).length;
    expect(report.verdicts.total).toBe(2 * judgedWithVerdicts);
    expect(report.verdicts.A + report.verdicts.B + report.verdicts.TIE + report.verdicts.unparsable).toBe(report.verdicts.total);

    // Logit judge: every judged order carries its verdict probabilities, normalised over A/B/TIE.
    for (const v of judged.flatMap((j) => j.verdicts)) {
      expect(v.probabilities, v.reply).toBeTruthy();
      const p = v.probabilities!;
      expect(p.A + p.B + p.TIE).toBeCloseTo(1, 9);
      expect(p.mass).toBeGreaterThan(0);
      expect(p.mass).toBeLessThanOrEqual(1.001);
    }
    const j = report.judge;
    expect(j.mode).toBe("logit");
    expect(j.judgementsWithProbabilities).toBe(report.verdicts.total);
    for (const side of Object.values(j.outcomes)) expect(side.distill + side.retain).toBe(judged.length);
    expect(j.bias).toBe("run");
    expect(report.totals.distill).toBe(j.outcomes.logitRun.distill);
    expect(j.orderConsistency.logitPair).toBe(1);
    // The recorded `set` is the text rule's; the pack's sets are the logit judge's.
    expect(judged.filter((x) => x.set === "distill").length).toBe(j.outcomes.text.distill);
    expect(await readFile(join(outDir, "report.md"), "utf8")).toContain("| first-position share (50% = unbiased) |");
    // The judge's measured reliability is reported and is what the combined labels used.
    expect(j.reliability.kappa).toBeGreaterThanOrEqual(0);
    expect(j.reliability.kappa).toBeLessThanOrEqual(1);
    expect(await readFile(join(outDir, "report.md"), "utf8")).toMatch(/Judge reliability \(Cohen's κ/);
    const provenanceFile = JSON.parse(await readFile(join(outDir, "provenance.json"), "utf8")) as { gate: { verdictWeight: number; judgeReliability: { kappa: number } } };
    expect(provenanceFile.gate.verdictWeight).toBe(j.reliability.kappa);
    expect(provenanceFile.gate.judgeReliability.kappa).toBe(j.reliability.kappa);

    const teacher = await readTeacherFile(join(outDir, "teacher.prtk"));
    expect(teacher.topK).toBe(8);
    expect(teacher.records).toHaveLength(report.totals.distill);
    expect(teacher.records.reduce((a, r) => a + r.responseTokens.length, 0)).toBe(report.totals.teacherTokens);
    const distillLines = (await readFile(join(outDir, "distill.jsonl"), "utf8")).split("\n").filter(Boolean);
    expect(distillLines).toHaveLength(report.totals.distill);

    for (const f of ["manifest.json", "gate.json", "persona.txt", "report.md", "report.json", "provenance.json", "retain.jsonl"]) {
      expect(existsSync(join(outDir, f)), f).toBe(true);
    }
    const pack = await loadAdapterPack(outDir, served);
    expect(pack.manifest.mode).toBe("persona-prompt");
    expect(pack.loraPath).toBeNull();
    expect(pack.gate.inputDim).toBe(features.spec.dim);
    const provenance = pack.manifest.provenance as { seed: number; modelFingerprint: string };
    expect(provenance.seed).toBe(11);
    expect(provenance.modelFingerprint).toBe(model.fingerprint);
    // Default gate: 5 heads on stratified folds; every labelled sample trains 4 of them and is held out by one.
    const labelled = report.gate.labelCounts.apply + report.gate.labelCounts.retain;
    expect(report.gate.folds).toBe(5);
    expect(report.gate.samples).toMatchObject({ train: labelled, heldOut: labelled });
    expect(pack.gate.data.layers[0]!.outputs).toBe(5 * 64);
    // Default classes: the persona intents present (math → discriminative, writing, safety_monitor); apply = the non-discriminative ones.
    expect(pack.gate.data.classes[0]).toBe("discriminative");
    expect(pack.gate.data.classes.every((c) => ["discriminative", "generative", "safety"].includes(c))).toBe(true);
    expect(pack.gate.data.applyClasses).toEqual(pack.gate.data.classes.filter((c) => c !== "discriminative"));
    expect(Object.keys(report.wallMs)).toEqual(expect.arrayContaining(["queries", "judged", "teacher", "features", "gate-training"]));
    expect(await readFile(join(outDir, "report.md"), "utf8")).toContain("| writing | generative | 3 |");
  });

  it("an interrupted run resumes where it stopped and ends with the same data (determinism)", async () => {
    await runBootstrap(deps({ sequential: true }), input("pack-d"));
    const abort = new AbortController();
    let judgedDone = 0;
    const progress: StageProgress = {
      start() {},
      stop() {},
      increment(stage) {
        if (stage === "judged" && ++judgedDone === 2) abort.abort(new Error("test interrupt"));
      },
    };
    await expect(runBootstrap(deps({ progress, signal: abort.signal, sequential: true }), input("pack-b"))).rejects.toThrow("test interrupt");
    const runB = join(root, "pack-b", "run");
    expect(existsSync(join(runB, "queries.done.json"))).toBe(true);
    expect(existsSync(join(runB, "judged.done.json"))).toBe(false);
    const partial = await readJsonl(join(runB, "judged.jsonl"));
    expect(partial.length).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(root, "pack-b", "manifest.json"))).toBe(false);

    let resumedFrom = -1;
    const second: StageProgress = { start: (stage, _t, done) => stage === "judged" && (resumedFrom = done), increment() {}, stop() {} };
    const { report } = await runBootstrap(deps({ progress: second, sequential: true }), input("pack-b"));
    expect(resumedFrom).toBe(partial.length);
    expect(report.totals.judged).toBeGreaterThan(0);

    // Same seed → the same bytes in every stage file and the pack's data, despite the interruption.
    const runA = join(root, "pack-d", "run");
    for (const f of ["queries.jsonl", "queries.kept.jsonl", "judged.jsonl", "teacher.jsonl", "features.jsonl"]) {
      expect(await readFile(join(runB, f), "utf8"), f).toBe(await readFile(join(runA, f), "utf8"));
    }
    for (const f of ["teacher.prtk", "gate.json", "distill.jsonl", "retain.jsonl"]) {
      expect(Buffer.compare(await readFile(join(root, "pack-b", f)), await readFile(join(root, "pack-d", f))), f).toBe(0);
    }
    const teacherFiles = existsSync(join(runB, "teacher")) ? await readdir(join(runB, "teacher")) : [];
    expect(teacherFiles).toHaveLength(report.totals.distill);
  });

  it("teacher top-k scores the generated tokens: greedy tokens are the teacher's top-1 under the same prompt", async () => {
    const system = personas[0]!.long;
    const user = "Write one sentence about rivers.";
    const greedy = await model.generate({ system, user, temperature: 0, maxTokens: 16, seed: 1 });
    const signal = await model.teacherTopK({ system, user, response: greedy.text, responseTokens: greedy.tokens, topK: 8 });
    expect(Array.from(signal.responseTokens)).toEqual(greedy.tokens);
    const n = signal.responseTokens.length;
    expect(n).toBeGreaterThan(0);
    expect(signal.topIds).toHaveLength(n * 8);
    let top1 = 0;
    for (let i = 0; i < n; i++) {
      const row = signal.topLogits.subarray(i * 8, i * 8 + 8);
      for (let j = 1; j < 8; j++) expect(row[j]!).toBeLessThanOrEqual(row[j - 1]!);
      if (signal.topIds[i * 8] === signal.responseTokens[i]) top1++;
    }
    // Greedy picked the argmax at every step, so the teacher's top-1 is the generated token everywhere.
    expect(top1).toBe(n);
  });

  it("records judged before the logit judge are re-judged on resume, answers kept, to the same data", async () => {
    const runD = join(root, "pack-d", "run");
    const runE = await runWithQueriesOf(runD, "pack-e");
    // judged.jsonl as an older version wrote it: no probabilities, and no completion marker.
    const original = await readJsonl(join(runD, "judged.jsonl"));
    const stripped = original.map(({ key, value }) => {
      const v = judgedRecordSchema.parse(value);
      return { key, value: { ...v, verdicts: v.verdicts.map(({ probabilities: _p, ...rest }) => rest) } };
    });
    await writeJsonl(join(runE, "judged.jsonl"), stripped);
    const rejudged: string[] = [];
    const progress: StageProgress = { start() {}, stop() {}, increment: (stage) => void (stage === "judged" && rejudged.push(stage)) };
    await runBootstrap(deps({ progress, sequential: true }), input("pack-e"));
    const withVerdicts = stripped.filter((r) => (r.value.verdicts as unknown[]).length > 0).length;
    expect(rejudged).toHaveLength(withVerdicts);
    expect(await readFile(join(runE, "judged.jsonl"), "utf8")).toBe(await readFile(join(runD, "judged.jsonl"), "utf8"));
  });

  it("a stored query asked for another style, subject or opening is generated again, the rest resumed", async () => {
    const runD = join(root, "pack-d", "run");
    const runF = await runWithQueriesOf(runD, "pack-f");
    const original = await readJsonl(join(runD, "queries.jsonl"));
    const target = original.find((r) => r.key.startsWith("knowledge/"))!;
    const primed = original.find((r) => r.key.startsWith("writing/"))!;
    const edit = (r: (typeof original)[number]) => {
      const v = queryRecordSchema.parse(r.value);
      // As if the contrast subject list, or the persona's starters, had been different when the run was made.
      if (r.key === target.key) return { ...r, value: { ...v, subject: "an old subject" } };
      if (r.key === primed.key) return { ...r, value: { ...v, raw: { ...v.raw, text: `An old opening ${v.raw.text}` } } };
      return r;
    };
    await writeJsonl(join(runF, "queries.jsonl"), original.map(edit));
    let queriesDoneAtStart = -1;
    const progress: StageProgress = { start: (stage, _t, done) => stage === "queries" && (queriesDoneAtStart = done), increment() {}, stop() {} };
    await runBootstrap(deps({ progress, sequential: true }), input("pack-f"));
    expect(queriesDoneAtStart).toBe(original.length - 2);
    const marker = JSON.parse(await readFile(join(runF, "queries.done.json"), "utf8")) as { ranThisSession: number };
    expect(marker.ranThisSession).toBe(2);
    const after = await readJsonl(join(runF, "queries.jsonl"));
    const regenerated = after.find((r) => r.key === target.key)!;
    expect(queryRecordSchema.parse(regenerated.value).subject).toBe(queryRecordSchema.parse(target.value).subject);
    const reprimed = queryRecordSchema.parse(after.find((r) => r.key === primed.key)!.value);
    expect(reprimed.raw.text.startsWith("An old opening")).toBe(false);
    expect(reprimed.raw.text.startsWith(personas.find((p) => p.name === "writing")!.starters[0]!)).toBe(true);
  });

  it("a finished run is re-decided with the other judge from its records, without judging again", async () => {
    const starts: Record<string, [number, number]> = {};
    const progress: StageProgress = { start: (stage, total, done) => void (starts[stage] = [total, done]), increment() {}, stop() {} };
    const first = await runBootstrap(deps(), input("pack-a"));
    const { report } = await runBootstrap(deps({ progress }), { ...input("pack-a"), options: { ...OPTIONS, judge: "text" } });
    // The judged stage was complete: nothing was started for it.
    expect(starts["judged"]).toBeUndefined();
    expect(report.judge.mode).toBe("text");
    expect(report.totals.distill).toBe(first.report.judge.outcomes.text.distill);
    expect(report.judge.outcomes).toEqual(first.report.judge.outcomes);
    const pair = await runBootstrap(deps(), { ...input("pack-a"), options: { ...OPTIONS, judgeBias: "pair" } });
    expect(pair.report.totals.distill).toBe(first.report.judge.outcomes.logitPair.distill);
  });

  it("--gate-classes binary trains the published apply/retain head from the same run; the decision is P(apply) either way", async () => {
    const intent = await runBootstrap(deps(), input("pack-a"));
    const binary = await runBootstrap(deps(), { ...input("pack-a"), options: { ...OPTIONS, gateClasses: "binary" } });
    expect(binary.gate.file.classes).toEqual(["retain", "apply"]);
    expect(binary.gate.file.applyClasses).toEqual(["apply"]);
    expect(intent.gate.file.classes).not.toEqual(binary.gate.file.classes);
    // Same labelled samples under both: the class split only refines "apply".
    expect(binary.report.gate.labelCounts).toEqual(intent.report.gate.labelCounts);
    const x = new Float32Array(intent.gate.file.features.dim).fill(0.01);
    for (const g of [intent.gate, binary.gate]) {
      const out = g.head.forward(x);
      const applied = g.file.applyClasses.reduce((a, c) => a + out.probabilities[g.file.classes.indexOf(c)]!, 0);
      expect(out.applyProbability).toBeCloseTo(applied, 6);
    }
  });

  it("verdict probabilities are exact and leave the sequence clean (multi-token spellings erased)", async () => {
    const request = { system: "You judge.", user: "Say A, B or TIE." };
    const together = await model.replyStartProbabilities({ ...request, choices: { x: ["TIE", "a"], y: ["Tie"], z: ["A"] } });
    const alone = await Promise.all(
      [["TIE", "a"], ["Tie"], ["A"]].map((spellings) => model.replyStartProbabilities({ ...request, choices: { only: spellings } })),
    );
    // Equal up to float32 batch numerics (sequences sharing a batch); a leftover token would change them grossly.
    const same = (a: number, b: number) => expect(Math.abs(a - b) / b).toBeLessThan(1e-4);
    same(together["x"]!, alone[0]!["only"]!);
    same(together["y"]!, alone[1]!["only"]!);
    same(together["z"]!, alone[2]!["only"]!);
    for (const p of Object.values(together)) expect(p).toBeGreaterThan(0);
    expect(together["x"]! + together["y"]! + together["z"]!).toBeLessThanOrEqual(1);
    // The same text twice is counted once.
    const twice = await model.replyStartProbabilities({ ...request, choices: { x: ["A", "A"] } });
    same(twice["x"]!, together["z"]!);
  });

  it("a generation can measure reply-start probabilities on its own prompt evaluation", async () => {
    const request = { system: "You judge.", user: "Say A, B or TIE." };
    const choices = { x: ["TIE", "a"], z: ["A"] };
    const alone = await model.replyStartProbabilities({ ...request, choices });
    const reply = await model.generate({ ...request, temperature: 0, maxTokens: 4, seed: 1, replyStart: choices });
    expect(reply.tokenCount).toBeGreaterThan(0);
    for (const c of Object.keys(choices)) expect(Math.abs(reply.replyStartProbabilities![c]! - alone[c]!) / alone[c]!).toBeLessThan(1e-4);
    const plain = await model.generate({ ...request, temperature: 0, maxTokens: 4, seed: 1 });
    expect(plain.replyStartProbabilities).toBeUndefined();
  });

  it("stopEarly cuts a generation and keeps what it wrote; the caller's abort still throws", async () => {
    const base = { system: null, user: "Tell me a long story.", temperature: 0.7, maxTokens: 48 };
    // The fixture model often ends early; take the first seed whose answer is long enough to cut.
    let seed = 0;
    let full = await model.generate({ ...base, seed, stopEarly: () => false });
    while (full.tokenCount < 32 && seed < 50) full = await model.generate({ ...base, seed: ++seed, stopEarly: () => false });
    expect(full.tokenCount).toBeGreaterThanOrEqual(32);
    expect(full.finishReason).not.toBe("cut");
    const seen: string[] = [];
    const cut = await model.generate({ ...base, seed, stopEarly: (text) => (seen.push(text), true) });
    expect(cut.finishReason).toBe("cut");
    expect(seen).toHaveLength(1);
    expect(cut.tokenCount).toBeGreaterThanOrEqual(16);
    expect(cut.tokenCount).toBeLessThan(full.tokenCount);
    expect(cut.tokens).toEqual(full.tokens.slice(0, cut.tokenCount));
    const controller = new AbortController();
    const aborted = model.generate({ ...base, seed, signal: controller.signal, stopEarly: () => (controller.abort(), false) });
    await expect(aborted).rejects.toThrow();
  });

  it("a different seed gives different queries", async () => {
    const other = await runBootstrap(deps(), { ...input("pack-c"), options: { ...OPTIONS, seed: 12 } });
    const a = await readFile(join(root, "pack-a", "run", "queries.jsonl"), "utf8");
    const c = await readFile(join(other.runDir, "queries.jsonl"), "utf8");
    expect(c).not.toBe(a);
  });
});

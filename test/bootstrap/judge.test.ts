/**
 * The self-judge's decision rules on recorded numbers (no model): normalisation, position-bias
 * calibration, the margin, garbage, the report's comparison of both judges, and resume of records
 * written before the logit judge existed.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decideLogitOutcome,
  estimatePositionBias,
  judgeReliability,
  judgeRun,
  normaliseVerdictMass,
  VERDICT_SPELLINGS,
} from "../../src/bootstrap/judge.js";
import { disjointSpellings } from "../../src/bootstrap/llama-model.js";
import { judgedRecordSchema, type JudgedRecord, type VerdictRecord } from "../../src/bootstrap/records.js";
import { buildJudgeReport } from "../../src/bootstrap/report.js";
import { StageRunner } from "../../src/bootstrap/stage-runner.js";

const TIE_SHARE = 0.1;

/** One order's verdict whose normalised P(A) − P(B) is `lean` (TIE holds a fixed share). */
function verdict(order: VerdictRecord["order"], lean: number, textVerdict: "A" | "B" | "TIE" | null = "A"): VerdictRecord {
  const rest = 1 - TIE_SHARE;
  const personaIsA = order === "persona-first";
  const winner = textVerdict === null ? null : textVerdict === "TIE" ? "tie" : (textVerdict === "A") === personaIsA ? "persona" : "baseline";
  return {
    order,
    reply: textVerdict ?? "I'm glad to share",
    verdict: textVerdict,
    winner,
    probabilities: { A: (rest + lean) / 2, B: (rest - lean) / 2, TIE: TIE_SHARE, mass: 0.3 },
  };
}

/**
 * A pair whose true persona preference is `delta` (positive: persona better), judged by a judge that
 * adds `bias` to P(A) − P(B) whatever is in position A, and whose text reply is always "A".
 */
function pair(delta: number, bias: number, persona = "writing"): JudgedRecord {
  const verdicts = [verdict("persona-first", delta + bias), verdict("baseline-first", -delta + bias)];
  return {
    persona,
    query: "q",
    baseline: { text: "b", tokens: 1, finishReason: "stop" },
    withPersona: { text: "p", tokens: 1, finishReason: "stop" },
    verdicts,
    set: "retain",
    reason: "split",
  };
}

describe("judge reliability (Cohen's κ of the two orders)", () => {
  const deltas = [0.15, 0.05, -0.1, 0.2, -0.05, 0.08, -0.12, 0.03];

  it("is high for a judge that reads the answers, whatever its constant position bias", () => {
    const r = judgeReliability(deltas.map((d) => pair(d, 0.6)), { mode: "logit", margin: 0, bias: "run" });
    expect(r.pairs).toBe(deltas.length);
    expect(r.agreement).toBe(1);
    expect(r.kappa).toBe(1);
  });

  it("is 0 for a judge whose pair-to-pair bias swamps the answers (SmolLM2-135M), even when pair bias is removed", () => {
    // Content signal ±0.01, position bias varying 0.57–0.93 between prompts: the orders disagree.
    const biases = [0.57, 0.93, 0.7, 0.88, 0.62, 0.91, 0.75, 0.8];
    const records = biases.map((b, i) => pair(i % 2 ? 0.01 : -0.01, b));
    for (const bias of ["run", "pair"] as const) {
      const r = judgeRun(records, { mode: "logit", margin: 0, bias });
      expect(judgeReliability(records, r.settings).kappa).toBe(0);
    }
    // Pair-level calibration makes the orders agree by construction; reliability does not read it that way.
    expect(judgeRun(records, { mode: "logit", margin: 0, bias: "pair" }).logit.every((d) => d.reason !== "split")).toBe(true);
  });

  it("text judge: a judge that always answers A agrees with itself never; no pairs gives 0", () => {
    const records = deltas.map((d) => pair(d, 0.6));
    expect(judgeReliability(records, { mode: "text", margin: 0, bias: "run" })).toEqual({ kappa: 0, agreement: 0, pairs: deltas.length });
    expect(judgeReliability([], { mode: "logit", margin: 0, bias: "run" })).toEqual({ kappa: 0, agreement: null, pairs: 0 });
  });

  it("is chance-corrected: agreement the winner shares alone would give scores 0", () => {
    // Every order names the persona (a judge that always prefers the persona): agreement 1, κ 0.
    const records = deltas.map((d) => pair(Math.abs(d) + 0.3, 0));
    const r = judgeReliability(records, { mode: "logit", margin: 0, bias: "run" });
    expect(r.agreement).toBe(1);
    expect(r.kappa).toBe(0);
  });
});

describe("verdict probabilities", () => {
  it("are normalised over A, B and TIE and keep the raw mass", () => {
    const p = normaliseVerdictMass({ A: 0.3059, B: 0.0365, TIE: 0.0027 })!;
    expect(p.A + p.B + p.TIE).toBeCloseTo(1, 12);
    expect(p.mass).toBeCloseTo(0.3451, 12);
    expect(p.A).toBeGreaterThan(p.B);
    expect(normaliseVerdictMass({ A: 0, B: 0, TIE: 0 })).toBeNull();
    expect(normaliseVerdictMass({ A: Number.NaN, B: 0.1, TIE: 0 })).toBeNull();
  });

  it("list every spelling: with and without a leading space, lower case", () => {
    for (const [v, spellings] of Object.entries(VERDICT_SPELLINGS)) {
      expect(spellings).toEqual(expect.arrayContaining([v, ` ${v}`, v.toLowerCase(), ` ${v.toLowerCase()}`]));
    }
  });

  it("spellings are made disjoint: duplicates kept once, extensions of a listed spelling dropped", () => {
    const toks: Record<string, number[]> = { A: [1], " A": [2, 1], a: [1], TIE: [3, 4], " tie": [3, 4, 5], Tie: [3], B: [] };
    const s = disjointSpellings({ A: ["A", " A", "a"], TIE: ["TIE", " tie"], T: ["Tie"], B: ["B"] }, (t) => toks[t]!);
    expect(s.map((x) => [x.choice, x.tokens])).toEqual([
      ["A", [1]],
      ["T", [3]],
      ["A", [2, 1]],
    ]);
  });
});

describe("position-bias calibration", () => {
  const deltas = [0.15, 0.05, -0.1, 0.2, -0.05, 0.08];

  it("cancels an injected position bias: the raw rule finds no winner, the calibrated one recovers the true ones", () => {
    const records = deltas.map((d) => pair(d, 0.6));
    const run = judgeRun(records, { mode: "logit", margin: 0, bias: "run" });
    expect(run.positionBias.bias).toBeCloseTo(0.6, 12);
    expect(run.positionBias.judgements).toBe(12);
    expect(run.logit.map((d) => d.reason)).toEqual(
      deltas.map((d) => (d > 0 ? "persona-won-both" : "baseline-won-both")),
    );
    expect(run.chosen).toBe(run.logit);
    // Without the correction every judgement prefers A: both orders never agree.
    expect(records.map((r) => decideLogitOutcome(r, 0, 0).reason)).toEqual(deltas.map(() => "split"));
    // The text judge always says "A": split everywhere, as measured on SmolLM2-135M.
    expect(run.text.every((d) => d.reason === "split")).toBe(true);
    expect(judgeRun(records, { mode: "text", margin: 0, bias: "run" }).chosen).toEqual(run.text);
  });

  it("decisions do not depend on the judge's position bias (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -0.2, max: 0.2, noNaN: true }), { minLength: 1, maxLength: 20 }),
        fc.double({ min: -0.65, max: 0.65, noNaN: true }),
        fc.constantFrom(0, 0.01, 0.05),
        (ds, bias, margin) => {
          const unbiased = judgeRun(ds.map((d) => pair(d, 0)), { mode: "logit", margin, bias: "run" }).logit;
          const biased = judgeRun(ds.map((d) => pair(d, bias)), { mode: "logit", margin, bias: "run" });
          expect(biased.positionBias.bias).toBeCloseTo(bias, 9);
          // Equal up to float rounding at the exact margin boundary.
          const boundary = ds.map((d) => Math.abs(Math.abs(d) - margin) < 1e-9);
          biased.logit.forEach((dec, i) => {
            if (!boundary[i]) expect(dec).toEqual(unbiased[i]);
          });
        },
      ),
      { seed: 5, numRuns: 200 },
    );
  });

  it("a bias that moves from prompt to prompt defeats one run-level offset; the pair's own bias removes it", () => {
    // As measured on SmolLM2-135M: P(A) − P(B) is 0.58…0.95 depending on the prompt, the answers move it by ~0.01.
    const cases = [
      { delta: 0.01, bias: 0.9 },
      { delta: -0.01, bias: 0.6 },
      { delta: 0.02, bias: 0.77 },
      { delta: 0.01, bias: 0.85 },
    ];
    const records = cases.map((c) => pair(c.delta, c.bias));
    const run = judgeRun(records, { mode: "logit", margin: 0, bias: "run" });
    expect(run.logit.map((d) => d.reason)).toEqual(["split", "split", "persona-won-both", "split"]);
    const perPair = judgeRun(records, { mode: "logit", margin: 0, bias: "pair" });
    expect(perPair.logit.map((d) => d.reason)).toEqual(["persona-won-both", "baseline-won-both", "persona-won-both", "persona-won-both"]);
    // A margin still guards against noise: only the 0.02 lead clears 0.015.
    const strict = judgeRun(records, { mode: "logit", margin: 0.015, bias: "pair" });
    expect(strict.logit.map((d) => d.set)).toEqual(["retain", "retain", "distill", "retain"]);
    const r = buildJudgeReport(["writing"], records, perPair);
    expect(r.pairBiasSd).toBeGreaterThan(0.1);
    expect(r.outcomes.logitPair.distill).toBe(3);
    expect(r.outcomes.logitRun.distill).toBe(1);
  });

  it("a margin turns narrow preferences into ties and one-sided ones into splits", () => {
    const margin = 0.05;
    const decide = (m1: number, m2: number) => {
      // persona margins m1 (persona-first) and m2 (baseline-first) around a zero-bias run
      const r = pair(0, 0);
      const v = [verdict("persona-first", m1), verdict("baseline-first", -m2)];
      return decideLogitOutcome({ ...r, verdicts: v }, 0, margin);
    };
    expect(decide(0.06, 0.07)).toEqual({ set: "distill", reason: "persona-won-both" });
    expect(decide(0.04, 0.07)).toEqual({ set: "retain", reason: "split" });
    expect(decide(0.04, -0.04)).toEqual({ set: "retain", reason: "tie" });
    expect(decide(-0.06, -0.2)).toEqual({ set: "retain", reason: "baseline-won-both" });
    // Margin 0: any lead in both orders wins.
    expect(decideLogitOutcome({ ...pair(0, 0), verdicts: [verdict("persona-first", 0.01), verdict("baseline-first", -0.01)] }, 0, 0).set).toBe("distill");
  });

  it("garbage never breaks the rules: no verdict mass, no verdicts, runs without probabilities", () => {
    const noMass = { ...pair(0.1, 0.3), verdicts: [verdict("persona-first", 0.4), { ...verdict("baseline-first", 0.2, null), probabilities: null }] };
    const empty: JudgedRecord = { ...pair(0, 0), verdicts: [], set: "retain", reason: "empty-answer" };
    const run = judgeRun([noMass, empty], { mode: "logit", margin: 0, bias: "run" });
    expect(run.logit).toEqual([
      { set: "retain", reason: "no-verdict-mass" },
      { set: "retain", reason: "empty-answer" },
    ]);
    expect(run.text).toEqual([
      { set: "retain", reason: "unparsable-verdict" },
      { set: "retain", reason: "empty-answer" },
    ]);
    expect(estimatePositionBias([empty])).toEqual({ bias: 0, judgements: 0 });
    const report = buildJudgeReport(["writing"], [empty], judgeRun([empty], { mode: "logit", margin: 0, bias: "run" }));
    expect(report.positionBias).toBeNull();
    expect(report.firstPositionShare).toEqual({ text: null, logitRaw: null, logitRun: null, logitPair: null });
    expect(report.perPersona[0]!.logit.garbage).toBe(1);
  });
});

describe("any recorded judge output", () => {
  it("is decided and reported without throwing; counts add up and shares stay in [0, 1] (property)", () => {
    const probs = fc.oneof(
      fc.constant(null),
      fc.constant(undefined),
      fc
        .tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))
        .map(([a, b, t]) => normaliseVerdictMass({ A: a, B: b, TIE: t })),
    );
    const verdictArb = fc.record({
      order: fc.constantFrom("persona-first" as const, "baseline-first" as const),
      reply: fc.string({ maxLength: 8 }),
      verdict: fc.constantFrom("A" as const, "B" as const, "TIE" as const, null),
      winner: fc.constantFrom("persona" as const, "baseline" as const, "tie" as const, null),
      probabilities: probs,
    });
    const recordArb = fc.record({
      persona: fc.constantFrom("writing", "math"),
      verdicts: fc.array(verdictArb, { maxLength: 2 }),
      reason: fc.constantFrom("split" as const, "empty-answer" as const, "runaway-answer" as const),
    });
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 12 }), fc.constantFrom("run" as const, "pair" as const), (raw, bias) => {
        const records: JudgedRecord[] = raw.map((r) => {
          const verdicts = r.verdicts.map(({ probabilities, ...v }) => (probabilities === undefined ? v : { ...v, probabilities }));
          return { ...pair(0, 0, r.persona), verdicts, reason: r.reason };
        });
        const run = judgeRun(records, { mode: "logit", margin: 0.01, bias });
        const report = buildJudgeReport(["writing", "math"], records, run);
        const { text, logitRaw, logitRun, logitPair } = report.outcomes;
        for (const o of [text, logitRaw, logitRun, logitPair]) {
          expect(o.distill + o.retain).toBe(records.length);
          expect(Object.values<number>(o.outcomes).reduce((a, x) => a + x, 0)).toBe(records.length);
        }
        for (const c of [report.firstPositionShare, report.orderConsistency]) {
          for (const x of Object.values(c)) if (x !== null) expect(x >= 0 && x <= 1).toBe(true);
        }
        const perPersona = report.perPersona.reduce((a, p) => a + Object.values(p.logit).reduce((b, x) => b + x, 0), 0);
        expect(perPersona).toBe(records.length);
      }),
      { seed: 9, numRuns: 300 },
    );
  });
});

describe("judge report", () => {
  it("compares the text judge with the raw and calibrated logit judge", () => {
    const records = [pair(0.1, 0.5, "writing"), pair(-0.1, 0.5, "writing"), pair(0.2, 0.5, "math"), pair(0.05, 0.5, "math")];
    const run = judgeRun(records, { mode: "logit", margin: 0, bias: "run" });
    const r = buildJudgeReport(["writing", "math"], records, run);
    expect(r.positionBias).toBeCloseTo(0.5, 12);
    expect(r.meanVerdictMass).toBeCloseTo(0.3, 12);
    expect(r.firstPositionShare).toEqual({ text: 1, logitRaw: 1, logitRun: 0.5, logitPair: 0.5 });
    expect(r.orderConsistency).toEqual({ text: 0, logitRaw: 0, logitRun: 1, logitPair: 1 });
    // Every pair decided the same way in both orders once the run bias is removed: fully reliable.
    expect(r.reliability).toEqual({ kappa: 1, agreement: 1, pairs: 4 });
    // The same judge everywhere: pair biases do not move.
    expect(r.pairBiasSd).toBeCloseTo(0, 12);
    // Order-averaged margin = the true preference, whatever the bias.
    expect(r.personaPreference.pairs).toBe(4);
    expect(r.personaPreference.mean).toBeCloseTo((0.1 - 0.1 + 0.2 + 0.05) / 4, 12);
    expect(r.personaPreference.positiveShare).toBe(0.75);
    expect(r.leanSd).toBeGreaterThan(0);
    const o = r.outcomes;
    expect([o.text.distill, o.logitRaw.distill, o.logitRun.distill, o.logitPair.distill]).toEqual([0, 0, 3, 3]);
    expect(o.logitRun.outcomes["persona-won-both"] + o.logitRun.outcomes["baseline-won-both"]).toBe(4);
    expect(r.perPersona).toEqual([
      { persona: "writing", text: { win: 0, tie: 0, loss: 0, split: 2, garbage: 0 }, logit: { win: 1, tie: 0, loss: 1, split: 0, garbage: 0 } },
      { persona: "math", text: { win: 0, tie: 0, loss: 0, split: 2, garbage: 0 }, logit: { win: 2, tie: 0, loss: 0, split: 0, garbage: 0 } },
    ]);
  });
});

describe("resume with records from before the logit judge", () => {
  it("re-runs only incomplete records, handing the old record to the stage", async () => {
    const dir = await mkdtemp(join(tmpdir(), "judge-resume-"));
    const complete = pair(0.1, 0.2);
    const { probabilities: _drop, ...oldVerdict } = complete.verdicts[0]!;
    const old: JudgedRecord = { ...complete, verdicts: [oldVerdict, oldVerdict] };
    await writeFile(
      join(dir, "judged.jsonl"),
      [JSON.stringify({ key: "a", value: complete }), JSON.stringify({ key: "b", value: old })].join("\n") + "\n",
    );
    const seen: { key: string; previous: JudgedRecord | undefined }[] = [];
    const runner = new StageRunner(dir, 0);
    const result = await runner.run({
      name: "judged",
      items: [{ key: "a", input: "a" }, { key: "b", input: "b" }],
      schema: judgedRecordSchema,
      concurrency: 1,
      isComplete: (r) => r.verdicts.every((v) => v.probabilities !== undefined),
      run: async (key, _ctx, previous) => {
        seen.push({ key, previous });
        return { ...previous!, verdicts: complete.verdicts };
      },
    });
    expect(seen).toEqual([{ key: "b", previous: old }]);
    expect(result.records.map((r) => r.value)).toEqual([complete, complete]);
    const onDisk = (await readFile(join(dir, "judged.jsonl"), "utf8")).trim().split("\n");
    expect(onDisk).toHaveLength(2);
    expect(result.marker.ranThisSession).toBe(1);
  });
});

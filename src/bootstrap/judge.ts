/**
 * The self-judge's decision rules. Stage 2 records the judge's raw output for both orders (greedy text
 * and verdict probabilities); everything here is a pure function of those records, so a run can be
 * re-decided (other judge, other margin) without running the model again.
 *
 * Logit judge: a weak judge prefers one position whatever is in it (SmolLM2-135M answers "A" every
 * time). Position bias is a property of the judge, so it is estimated over the whole run as the mean
 * of P(A) − P(B) and subtracted from every judgement before PRISM's rule is applied: the persona goes
 * to distill only if it is preferred in both orders.
 */
import type { JudgeBias, JudgeMode } from "./options.js";
import type { Verdict } from "./prompts.js";
import type { JudgedRecord, OutcomeReason, VerdictProbabilities, VerdictRecord } from "./records.js";

/** Every spelling a reply can start a verdict with: with and without a leading space, upper, lower and title case. */
export const VERDICT_SPELLINGS: Readonly<Record<Verdict, readonly string[]>> = {
  A: ["A", " A", "a", " a"],
  B: ["B", " B", "b", " b"],
  TIE: ["TIE", " TIE", "tie", " tie", "Tie", " Tie"],
};

/** Normalises the raw per-verdict probability mass over the three verdicts; null when there is none. */
export function normaliseVerdictMass(raw: Readonly<Record<string, number>>): VerdictProbabilities | null {
  const A = raw["A"] ?? 0;
  const B = raw["B"] ?? 0;
  const TIE = raw["TIE"] ?? 0;
  const mass = A + B + TIE;
  if (!(mass > 0) || !Number.isFinite(mass)) return null;
  return { A: A / mass, B: B / mass, TIE: TIE / mass, mass };
}

type Winner = NonNullable<VerdictRecord["winner"]>;
export type Decision = Pick<JudgedRecord, "set" | "reason">;

/** PRISM's rule over the winners of both orders: persona must win both; anything unreadable retains. */
export function outcomeOfWinners(winners: readonly (Winner | null)[], missing: OutcomeReason = "unparsable-verdict"): Decision {
  if (winners.some((w) => w === null)) return { set: "retain", reason: missing };
  if (winners.every((w) => w === "persona")) return { set: "distill", reason: "persona-won-both" };
  if (winners.every((w) => w === "baseline")) return { set: "retain", reason: "baseline-won-both" };
  if (winners.every((w) => w === "tie")) return { set: "retain", reason: "tie" };
  return { set: "retain", reason: "split" };
}

export interface PositionBias {
  /** Mean of P(A) − P(B) over all judgements with probabilities: 0 = no position preference. */
  readonly bias: number;
  /** Judgements it was estimated from. */
  readonly judgements: number;
}

export function estimatePositionBias(records: readonly JudgedRecord[]): PositionBias {
  let sum = 0;
  let n = 0;
  for (const r of records) {
    for (const v of r.verdicts) {
      if (!v.probabilities) continue;
      sum += v.probabilities.A - v.probabilities.B;
      n++;
    }
  }
  return { bias: n > 0 ? sum / n : 0, judgements: n };
}

/** The pair's own position bias: mean P(A) − P(B) of its two orders; null unless both have probabilities. */
export function pairPositionBias(record: JudgedRecord): number | null {
  const leans = record.verdicts.map((v) => (v.probabilities ? v.probabilities.A - v.probabilities.B : null));
  if (leans.length !== 2 || leans.some((l) => l === null)) return null;
  return (leans[0]! + leans[1]!) / 2;
}

/** The bias to remove from one record's judgements under `mode` (`raw`: none). */
export function biasFor(record: JudgedRecord, mode: JudgeBias | "raw", run: PositionBias): number {
  if (mode === "raw") return 0;
  if (mode === "pair") return pairPositionBias(record) ?? run.bias;
  return run.bias;
}

/** How much more the judge prefers the persona answer than the baseline in this order, bias removed. */
export function personaMargin(v: VerdictRecord, bias: number): number | null {
  if (!v.probabilities) return null;
  const firstLean = v.probabilities.A - v.probabilities.B - bias;
  return v.order === "persona-first" ? firstLean : -firstLean;
}

export function marginWinner(margin: number | null, threshold: number): Winner | null {
  if (margin === null) return null;
  return margin > threshold ? "persona" : margin < -threshold ? "baseline" : "tie";
}

/** The logit judge's decision for one record, given the run's bias and the margin a win needs. */
export function decideLogitOutcome(record: JudgedRecord, bias: number, threshold: number): Decision {
  // No verdicts: the answers themselves were garbage (empty, runaway); the reason says which.
  if (record.verdicts.length === 0) return { set: record.set, reason: record.reason };
  return outcomeOfWinners(
    record.verdicts.map((v) => marginWinner(personaMargin(v, bias), threshold)),
    "no-verdict-mass",
  );
}

/** The published text rule, recomputed from the recorded winners. */
export function decideTextOutcome(record: JudgedRecord): Decision {
  if (record.verdicts.length === 0) return { set: record.set, reason: record.reason };
  return outcomeOfWinners(record.verdicts.map((v) => v.winner));
}

export interface JudgeSettings {
  readonly mode: JudgeMode;
  /** Logit judge: margin a persona win needs in each order. */
  readonly margin: number;
  /** Logit judge: which position bias is removed. */
  readonly bias: JudgeBias;
}

export interface RunJudgement {
  readonly settings: JudgeSettings;
  readonly positionBias: PositionBias;
  /** Per record (input order): the decision of the chosen judge, and of both judges for the report. */
  readonly chosen: readonly Decision[];
  readonly text: readonly Decision[];
  readonly logit: readonly Decision[];
}

/** Decides every record of a run: both judges, so the report can compare them. */
export function judgeRun(records: readonly JudgedRecord[], settings: JudgeSettings): RunJudgement {
  const positionBias = estimatePositionBias(records);
  const text = records.map(decideTextOutcome);
  const logit = records.map((r) => decideLogitOutcome(r, biasFor(r, settings.bias, positionBias), settings.margin));
  return { settings, positionBias, chosen: settings.mode === "logit" ? logit : text, text, logit };
}

/** A judged record is complete when every verdict has its probabilities (older records lack them). */
export const hasVerdictProbabilities = (r: JudgedRecord) => r.verdicts.every((v) => v.probabilities !== undefined);

export interface JudgeReliability {
  /** Cohen's κ between the winners of the two orders, clipped to [0, 1]: 0 = no better than chance. */
  readonly kappa: number;
  /** Share of pairs whose two orders name the same winner. */
  readonly agreement: number | null;
  /** Pairs with a winner in both orders. */
  readonly pairs: number;
}

/**
 * How much the judge's verdicts can be trusted, measured on the run itself: a judge that reads the
 * answers names the same winner when they swap positions. Cohen's κ between the two orders' winners
 * (persona / baseline / tie) removes the agreement the orders' own winner shares would give by chance.
 * The logit judge is read with the run's position bias removed whatever `settings.bias` is: with each
 * pair's own bias removed the orders agree by construction, which says nothing about the judge.
 */
export function judgeReliability(records: readonly JudgedRecord[], settings: JudgeSettings): JudgeReliability {
  const run = estimatePositionBias(records);
  const pairs: [Winner, Winner][] = [];
  for (const r of records) {
    if (r.verdicts.length !== 2) continue;
    const winners = r.verdicts.map((v) =>
      settings.mode === "logit" ? marginWinner(personaMargin(v, run.bias), settings.margin) : v.winner,
    );
    if (winners[0] != null && winners[1] != null) pairs.push([winners[0], winners[1]]);
  }
  if (pairs.length === 0) return { kappa: 0, agreement: null, pairs: 0 };
  const n = pairs.length;
  const observed = pairs.filter(([a, b]) => a === b).length / n;
  const categories: Winner[] = ["persona", "baseline", "tie"];
  const chance = categories.reduce(
    (acc, c) => acc + (pairs.filter(([a]) => a === c).length / n) * (pairs.filter(([, b]) => b === c).length / n),
    0,
  );
  // Every pair in one category in both orders: agreement cannot be told from chance.
  const kappa = chance >= 1 ? 0 : (observed - chance) / (1 - chance);
  return { kappa: Math.min(1, Math.max(0, kappa)), agreement: observed, pairs: n };
}

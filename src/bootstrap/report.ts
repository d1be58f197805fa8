/** The run report: JSON for tools, Markdown for people. Built only from the stage records. */
import type { BaseModelSpec } from "../adapters/manifest.js";
import type { GateTrainingReport } from "../gate/train.js";
import type { BootstrapOptions } from "./options.js";
import type { Persona } from "./personas/schema.js";
import {
  biasFor,
  decideLogitOutcome,
  judgeReliability,
  marginWinner,
  pairPositionBias,
  personaMargin,
  type Decision,
  type JudgeReliability,
  type RunJudgement,
} from "./judge.js";
import { outcomeReasonSchema, type JudgedRecord, type OutcomeReason, type QueryRecord, type VerdictRecord } from "./records.js";
import type { StageMarker } from "./stage-runner.js";
import type { QueryFilterResult } from "./stages.js";

export interface PersonaReport {
  readonly persona: string;
  readonly intent: string;
  readonly generated: number;
  readonly kept: number;
  readonly dropped: Record<string, number>;
  readonly judged: number;
  readonly win: number;
  readonly tie: number;
  readonly loss: number;
  readonly split: number;
  readonly garbage: number;
  readonly distill: number;
  readonly retain: number;
}

export interface BootstrapReport {
  readonly pack: string;
  readonly mode: "persona-prompt";
  readonly packPersona: string;
  readonly baseModel: BaseModelSpec;
  readonly seed: number;
  readonly options: BootstrapOptions;
  readonly perPersona: readonly PersonaReport[];
  readonly knowledge: { readonly generated: number; readonly kept: number; readonly dropped: Record<string, number> };
  readonly totals: {
    readonly queriesGenerated: number;
    readonly queriesKept: number;
    readonly judged: number;
    readonly distill: number;
    readonly retain: number;
    readonly teacherTokens: number;
  };
  /** Why queries and samples were dropped or not used. */
  readonly drops: Record<string, number>;
  readonly outcomes: Record<OutcomeReason, number>;
  readonly verdicts: {
    readonly total: number;
    readonly A: number;
    readonly B: number;
    readonly TIE: number;
    readonly unparsable: number;
    /** Share of parsed verdicts that picked the first position: 0.5 is unbiased. */
    readonly firstPositionShare: number | null;
    /** Share of answer pairs where both orders agreed on a winner (persona, baseline or tie). */
    readonly orderConsistency: number | null;
  };
  /** Both judges side by side; `mode` is the one whose sets the pack uses. */
  readonly judge: JudgeReport;
  readonly gate: GateTrainingReport & { readonly labels: string; readonly labelCounts: { apply: number; retain: number } };
  readonly wallMs: Record<string, number>;
}

export interface JudgeOutcomes {
  readonly distill: number;
  readonly retain: number;
  readonly outcomes: Record<OutcomeReason, number>;
}

export interface PersonaJudgeCounts {
  readonly win: number;
  readonly tie: number;
  readonly loss: number;
  readonly split: number;
  readonly garbage: number;
}

/**
 * A statistic for the text judge and the logit judge with no bias removed (`logitRaw`), the run's bias
 * removed (`logitRun`) and each pair's own bias removed (`logitPair`).
 */
export interface JudgeComparison<T> {
  readonly text: T;
  readonly logitRaw: T;
  readonly logitRun: T;
  readonly logitPair: T;
}

export interface JudgeReport {
  readonly mode: string;
  readonly margin: number;
  /** Which bias the logit judge's sets remove (`run` or `pair`). */
  readonly bias: string;
  /** Mean P(A) − P(B) over all judgements: the judge's position bias over the run. */
  readonly positionBias: number | null;
  readonly judgementsWithProbabilities: number;
  /** Mean probability the verdict words hold at the start of the reply (before normalising over A/B/TIE). */
  readonly meanVerdictMass: number | null;
  /** Spread (standard deviation) of P(A) − P(B) across judgements. */
  readonly leanSd: number | null;
  /**
   * Spread of the pairs' own bias (mean P(A) − P(B) of the two orders): how much the position bias moves
   * from prompt to prompt. When it exceeds the content effect, one run-level offset cannot separate them.
   */
  readonly pairBiasSd: number | null;
  /**
   * Per pair, the persona margin averaged over both orders (bias-free by construction): mean, and share of
   * pairs where it favours the persona.
   */
  readonly personaPreference: { readonly pairs: number; readonly mean: number | null; readonly positiveShare: number | null };
  /** Share of judgements preferring position A (0.5 = no position bias; `logitPair` is 0.5 by construction). */
  readonly firstPositionShare: JudgeComparison<number | null>;
  /** Share of pairs where both orders name the same winner (`logitPair` is 1 by construction). */
  readonly orderConsistency: JudgeComparison<number | null>;
  /** The judge's agreement with itself across orders beyond chance (Cohen's κ): how far `combined` trusts verdicts. */
  readonly reliability: JudgeReliability;
  readonly outcomes: JudgeComparison<JudgeOutcomes>;
  /** Per persona, the text judge and the logit judge as configured. */
  readonly perPersona: readonly { readonly persona: string; readonly text: PersonaJudgeCounts; readonly logit: PersonaJudgeCounts }[];
}

const GARBAGE: readonly OutcomeReason[] = ["unparsable-verdict", "no-verdict-mass", "empty-answer", "runaway-answer"];

function outcomeCounts(decisions: readonly Decision[]): JudgeOutcomes {
  const outcomes = Object.fromEntries(
    outcomeReasonSchema.options.map((r) => [r, decisions.filter((d) => d.reason === r).length]),
  ) as Record<OutcomeReason, number>;
  return {
    distill: decisions.filter((d) => d.set === "distill").length,
    retain: decisions.filter((d) => d.set === "retain").length,
    outcomes,
  };
}

function personaCounts(decisions: readonly Decision[]): PersonaJudgeCounts {
  const n = (r: OutcomeReason) => decisions.filter((d) => d.reason === r).length;
  return {
    win: n("persona-won-both"),
    tie: n("tie"),
    loss: n("baseline-won-both"),
    split: n("split"),
    garbage: GARBAGE.reduce((a, r) => a + n(r), 0),
  };
}

const share = (hits: number, of: number) => (of > 0 ? hits / of : null);

const mean = (xs: readonly number[]) => (xs.length > 0 ? xs.reduce((a, x) => a + x, 0) / xs.length : null);
const sd = (xs: readonly number[]) => {
  const m = mean(xs);
  return m === null || xs.length < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

/** Judge statistics from the recorded verdicts and the run's decisions (pure: recomputable from judged.jsonl). */
export function buildJudgeReport(
  personas: readonly string[],
  judged: readonly JudgedRecord[],
  judgement: RunJudgement,
): JudgeReport {
  const run = judgement.positionBias;
  const margin = judgement.settings.margin;
  const verdicts = judged.flatMap((j) => j.verdicts);
  const parsed = verdicts.filter((v) => v.verdict !== null);
  const withProbs = verdicts.filter((v) => v.probabilities);
  const lean = (v: VerdictRecord) => v.probabilities!.A - v.probabilities!.B;
  // Pairs the logit judge can decide (both orders have probabilities).
  const logitPairs = judged.filter((j) => j.verdicts.length === 2 && j.verdicts.every((v) => v.probabilities));
  const textPairs = judged.filter((j) => j.verdicts.length === 2 && j.verdicts.every((v) => v.winner !== null));

  const logitStats = (mode: "raw" | "run" | "pair") => {
    const firstPicked = judged.reduce(
      (a, j) => a + j.verdicts.filter((v) => v.probabilities && lean(v) - biasFor(j, mode, run) > 0).length,
      0,
    );
    const agreeing = logitPairs.filter((j) => {
      const b = biasFor(j, mode, run);
      const [w0, w1] = j.verdicts.map((v) => marginWinner(personaMargin(v, b), margin));
      return w0 === w1;
    }).length;
    return {
      firstPositionShare: share(firstPicked, withProbs.length),
      orderConsistency: share(agreeing, logitPairs.length),
      outcomes: outcomeCounts(judged.map((r) => decideLogitOutcome(r, biasFor(r, mode, run), margin))),
    };
  };
  const [raw, runCal, pairCal] = [logitStats("raw"), logitStats("run"), logitStats("pair")];
  const averaged = logitPairs.map((j) => j.verdicts.reduce((a, v) => a + personaMargin(v, run.bias)!, 0) / 2);
  const byPersona = (decisions: readonly Decision[], name: string) => decisions.filter((_, i) => judged[i]!.persona === name);
  return {
    mode: judgement.settings.mode,
    margin,
    bias: judgement.settings.bias,
    positionBias: run.judgements > 0 ? run.bias : null,
    judgementsWithProbabilities: run.judgements,
    meanVerdictMass: mean(withProbs.map((v) => v.probabilities!.mass)),
    leanSd: sd(withProbs.map(lean)),
    pairBiasSd: sd(logitPairs.map((j) => pairPositionBias(j)!)),
    personaPreference: {
      pairs: averaged.length,
      mean: mean(averaged),
      positiveShare: share(averaged.filter((x) => x > 0).length, averaged.length),
    },
    firstPositionShare: {
      text: share(parsed.filter((v) => v.verdict === "A").length, parsed.length),
      logitRaw: raw.firstPositionShare,
      logitRun: runCal.firstPositionShare,
      logitPair: pairCal.firstPositionShare,
    },
    reliability: judgeReliability(judged, judgement.settings),
    orderConsistency: {
      text: share(textPairs.filter((j) => j.verdicts[0]!.winner === j.verdicts[1]!.winner).length, textPairs.length),
      logitRaw: raw.orderConsistency,
      logitRun: runCal.orderConsistency,
      logitPair: pairCal.orderConsistency,
    },
    outcomes: { text: outcomeCounts(judgement.text), logitRaw: raw.outcomes, logitRun: runCal.outcomes, logitPair: pairCal.outcomes },
    perPersona: personas.map((name) => ({
      persona: name,
      text: personaCounts(byPersona(judgement.text, name)),
      logit: personaCounts(byPersona(judgement.logit, name)),
    })),
  };
}

const countBy = <T>(xs: readonly T[], f: (x: T) => string) =>
  xs.reduce<Record<string, number>>((acc, x) => ((acc[f(x)] = (acc[f(x)] ?? 0) + 1), acc), {});

export function buildReport(input: {
  packName: string;
  options: BootstrapOptions;
  baseModel: BaseModelSpec;
  personas: readonly Persona[];
  queries: readonly { key: string; value: QueryRecord }[];
  selection: QueryFilterResult;
  /** Stage 2 records as recorded (text-rule sets). */
  judged: readonly { key: string; value: JudgedRecord }[];
  judgement: RunJudgement;
  teacherTokens: number;
  gate: GateTrainingReport;
  labelCounts: { apply: number; retain: number };
  markers: readonly StageMarker[];
  gateMs: number;
  totalMs: number;
  packPersona: string;
}): BootstrapReport {
  // Sets and reasons of the chosen judge; the raw records keep the text rule's.
  const decided = input.judged.map((j, i) => ({ key: j.key, value: { ...j.value, ...input.judgement.chosen[i]! } }));
  const perPersona = input.personas.map((p): PersonaReport => {
    const judged = decided.filter((j) => j.value.persona === p.name).map((j) => j.value);
    const reasons = countBy(judged, (j) => j.reason);
    return {
      persona: p.name,
      intent: p.intent,
      generated: input.queries.filter((q) => q.value.source === p.name).length,
      kept: input.selection.kept.filter((q) => q.source === p.name).length,
      dropped: countBy(input.selection.drops.filter((d) => d.source === p.name), (d) => d.reason),
      judged: judged.length,
      win: reasons["persona-won-both"] ?? 0,
      loss: reasons["baseline-won-both"] ?? 0,
      tie: reasons["tie"] ?? 0,
      split: reasons["split"] ?? 0,
      garbage: GARBAGE.reduce((a, r) => a + (reasons[r] ?? 0), 0),
      distill: judged.filter((j) => j.set === "distill").length,
      retain: judged.filter((j) => j.set === "retain").length,
    };
  });
  const verdicts = input.judged.flatMap((j) => j.value.verdicts);
  const parsed = verdicts.filter((v) => v.verdict !== null);
  const firstPicked = parsed.filter((v) => v.verdict === "A").length;
  const pairs = input.judged.filter((j) => j.value.verdicts.length === 2 && j.value.verdicts.every((v) => v.winner !== null));
  const consistent = pairs.filter((j) => j.value.verdicts[0]!.winner === j.value.verdicts[1]!.winner).length;
  const { outcomes } = outcomeCounts(input.judgement.chosen);
  const wallMs: Record<string, number> = {};
  for (const m of input.markers) wallMs[m.stage] = m.wallMs;
  wallMs["gate-training"] = input.gateMs;
  wallMs["total-this-session"] = input.totalMs;
  const drops = countBy(input.selection.drops, (d) => `query-${d.reason}`);
  drops["answer-empty"] = outcomes["empty-answer"];
  drops["answer-runaway"] = outcomes["runaway-answer"];
  drops["verdict-unparsable"] = verdicts.length - parsed.length;
  const knowledgeQueries = input.queries.filter((q) => q.value.kind === "knowledge");
  return {
    pack: input.packName,
    mode: "persona-prompt",
    packPersona: input.packPersona,
    baseModel: input.baseModel,
    seed: input.options.seed,
    options: input.options,
    perPersona,
    knowledge: {
      generated: knowledgeQueries.length,
      kept: input.selection.kept.filter((q) => q.kind === "knowledge").length,
      dropped: countBy(input.selection.drops.filter((d) => d.source === "knowledge"), (d) => d.reason),
    },
    totals: {
      queriesGenerated: input.queries.length,
      queriesKept: input.selection.kept.length,
      judged: input.judged.length,
      distill: decided.filter((j) => j.value.set === "distill").length,
      retain: decided.filter((j) => j.value.set === "retain").length,
      teacherTokens: input.teacherTokens,
    },
    drops,
    outcomes,
    verdicts: {
      total: verdicts.length,
      A: parsed.filter((v) => v.verdict === "A").length,
      B: parsed.filter((v) => v.verdict === "B").length,
      TIE: parsed.filter((v) => v.verdict === "TIE").length,
      unparsable: verdicts.length - parsed.length,
      firstPositionShare: parsed.length > 0 ? firstPicked / parsed.length : null,
      orderConsistency: pairs.length > 0 ? consistent / pairs.length : null,
    },
    judge: buildJudgeReport(
      input.personas.map((p) => p.name),
      input.judged.map((j) => j.value),
      input.judgement,
    ),
    gate: { ...input.gate, labels: input.options.labels, labelCounts: input.labelCounts },
    wallMs,
  };
}

const pct = (x: number | null) => (x === null ? "–" : `${(100 * x).toFixed(1)}%`);
const secs = (ms: number | undefined) => (ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`);

export function renderReportMarkdown(r: BootstrapReport): string {
  const lines: string[] = [];
  lines.push(`# PRISM bootstrap report: ${r.pack}`, "");
  lines.push(
    `Mode: **${r.mode}** (no LoRA yet: the gate decides whether the \`${r.packPersona}\` persona prompt is injected). ` +
      `Base model: ${r.baseModel.architecture}, fingerprint \`${r.baseModel.fingerprint ?? "not pinned"}\`. Seed ${r.seed}.`,
    "",
  );
  lines.push(`## Per persona (${r.judge.mode} judge)`, "");
  lines.push("| persona | intent | generated | kept | dropped | win | tie | loss | split | garbage | distill | retain |");
  lines.push("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const p of r.perPersona) {
    const dropped = Object.entries(p.dropped).map(([k, v]) => `${k} ${v}`).join(", ") || "0";
    lines.push(
      `| ${p.persona} | ${p.intent} | ${p.generated} | ${p.kept} | ${dropped} | ${p.win} | ${p.tie} | ${p.loss} | ${p.split} | ${p.garbage} | ${p.distill} | ${p.retain} |`,
    );
  }
  const kd = Object.entries(r.knowledge.dropped).map(([k, v]) => `${k} ${v}`).join(", ") || "0";
  lines.push(`| *knowledge contrast* | discriminative | ${r.knowledge.generated} | ${r.knowledge.kept} | ${kd} | | | | | | | |`, "");
  lines.push("## Totals", "");
  lines.push(
    `Queries generated ${r.totals.queriesGenerated}, kept ${r.totals.queriesKept}; judged ${r.totals.judged}: ` +
      `**distill ${r.totals.distill} / retain ${r.totals.retain}**; teacher tokens ${r.totals.teacherTokens}.`,
    "",
  );
  lines.push(...renderJudgeMarkdown(r));
  lines.push("## Drops and garbage", "");
  for (const [k, v] of Object.entries(r.drops)) lines.push(`- ${k}: ${v}`);
  lines.push("", "## Gate", "");
  const heads =
    r.gate.folds === undefined
      ? `${r.gate.architecture}, ${r.gate.epochs} epochs (best ${r.gate.bestEpoch}, ${r.gate.stoppedBy}). `
      : `${r.gate.folds} ${r.gate.architecture} heads on stratified folds, logits averaged (mean best epoch ${r.gate.bestEpoch}). `;
  const heldOut = r.gate.folds === undefined ? "held-out samples" : "samples, each predicted by the head that did not train on it";
  lines.push(
    `Labels \`${r.gate.labels}\`: apply ${r.gate.labelCounts.apply}, retain ${r.gate.labelCounts.retain}. ` +
      heads +
      `Train accuracy ${pct(r.gate.trainAccuracy)}, held-out accuracy ${pct(r.gate.heldOutAccuracy)} ` +
      `(balanced ${pct(r.gate.heldOutBalancedAccuracy)}) on ${r.gate.samples.heldOut} ${heldOut}.`,
    "",
  );
  lines.push("## Wall time per stage", "", "| stage | wall time |", "|---|---|");
  for (const [k, v] of Object.entries(r.wallMs)) lines.push(`| ${k} | ${secs(v)} |`);
  lines.push("");
  return lines.join("\n");
}

const num = (x: number | null) => (x === null ? "–" : x.toFixed(3));
const signed = (x: number | null) => (x === null ? "–" : `${x >= 0 ? "+" : ""}${x.toFixed(3)}`);

function renderJudgeMarkdown(r: BootstrapReport): string[] {
  const j = r.judge;
  const lines = ["## Judge", ""];
  const how =
    j.mode === "logit"
      ? ` (persona must lead by more than ${j.margin} in both orders after removing the ${j.bias === "pair" ? "pair's own" : "run's"} position bias).`
      : " (published rule: greedy reply, persona chosen in both orders).";
  lines.push(
    `Sets come from the **${j.mode}** judge${how} ` +
      `Text replies: ${r.verdicts.total} verdicts, A ${r.verdicts.A}, B ${r.verdicts.B}, TIE ${r.verdicts.TIE}, unparsable ${r.verdicts.unparsable}.`,
    "",
    `Position bias over the run, mean P(A) − P(B) of ${j.judgementsWithProbabilities} judgements: ${signed(j.positionBias)}. ` +
      `It moves from pair to pair by ${num(j.pairBiasSd)} (sd of the pairs' own bias; all judgements: ${num(j.leanSd)}). ` +
      `Verdict words hold ${pct(j.meanVerdictMass)} of the first reply token's probability on average. ` +
      `Averaged over both orders the persona answer is preferred in ${pct(j.personaPreference.positiveShare)} of ` +
      `${j.personaPreference.pairs} pairs (mean margin ${signed(j.personaPreference.mean)}).`,
    "",
  );
  const row = <T>(label: string, c: JudgeComparison<T>, f: (x: T) => string) =>
    `| ${label} | ${f(c.text)} | ${f(c.logitRaw)} | ${f(c.logitRun)} | ${f(c.logitPair)} |`;
  lines.push(
    "| | text (published) | logit, no bias removed | logit, run bias removed | logit, pair bias removed |",
    "|---|---|---|---|---|",
    row("first-position share (50% = unbiased)", j.firstPositionShare, pct),
    row("both orders agree", j.orderConsistency, pct),
    row("distill / retain", j.outcomes, (o) => `${o.distill} / ${o.retain}`),
    row("win / tie / loss / split", j.outcomes, (o) =>
      [o.outcomes["persona-won-both"], o.outcomes["tie"], o.outcomes["baseline-won-both"], o.outcomes["split"]].join(" / "),
    ),
    "",
  );
  lines.push(
    `Judge reliability (Cohen's κ between the two orders' winners, ${j.mode === "logit" ? "run bias removed" : "text replies"}): ` +
      `κ ${j.reliability.kappa.toFixed(2)} over ${j.reliability.pairs} pairs (agreement ${pct(j.reliability.agreement)}); ` +
      "with `--verdict-weight reliability` (default) a verdict against the persona's intent moves a `combined` label by that much.",
    "",
  );
  lines.push("| persona | text win / tie / loss / split / garbage | logit win / tie / loss / split / garbage |", "|---|---|---|");
  const cells = (c: PersonaJudgeCounts) => `${c.win} / ${c.tie} / ${c.loss} / ${c.split} / ${c.garbage}`;
  for (const p of j.perPersona) lines.push(`| ${p.persona} | ${cells(p.text)} | ${cells(p.logit)} |`);
  lines.push("");
  return lines;
}

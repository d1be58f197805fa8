/** The run report: JSON for tools, Markdown for people. Built only from the stage records. */
import type { BaseModelSpec } from "../adapters/manifest.js";
import type { GateTrainingReport } from "../gate/train.js";
import type { BootstrapOptions } from "./options.js";
import type { Persona } from "./personas/schema.js";
import type { JudgedRecord, OutcomeReason, QueryRecord } from "./records.js";
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
  readonly gate: GateTrainingReport & { readonly labels: string; readonly labelCounts: { apply: number; retain: number } };
  readonly wallMs: Record<string, number>;
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
  judged: readonly { key: string; value: JudgedRecord }[];
  teacherTokens: number;
  gate: GateTrainingReport;
  labelCounts: { apply: number; retain: number };
  markers: readonly StageMarker[];
  gateMs: number;
  totalMs: number;
  packPersona: string;
}): BootstrapReport {
  const perPersona = input.personas.map((p): PersonaReport => {
    const judged = input.judged.filter((j) => j.value.persona === p.name).map((j) => j.value);
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
      garbage: (reasons["unparsable-verdict"] ?? 0) + (reasons["empty-answer"] ?? 0) + (reasons["runaway-answer"] ?? 0),
      distill: judged.filter((j) => j.set === "distill").length,
      retain: judged.filter((j) => j.set === "retain").length,
    };
  });
  const verdicts = input.judged.flatMap((j) => j.value.verdicts);
  const parsed = verdicts.filter((v) => v.verdict !== null);
  const firstPicked = parsed.filter((v) => v.verdict === "A").length;
  const pairs = input.judged.filter((j) => j.value.verdicts.length === 2 && j.value.verdicts.every((v) => v.winner !== null));
  const consistent = pairs.filter((j) => j.value.verdicts[0]!.winner === j.value.verdicts[1]!.winner).length;
  const outcomes = Object.fromEntries(
    (["persona-won-both", "baseline-won-both", "tie", "split", "unparsable-verdict", "empty-answer", "runaway-answer"] as const).map(
      (r) => [r, input.judged.filter((j) => j.value.reason === r).length],
    ),
  ) as Record<OutcomeReason, number>;
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
      distill: input.judged.filter((j) => j.value.set === "distill").length,
      retain: input.judged.filter((j) => j.value.set === "retain").length,
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
  lines.push("## Per persona", "");
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
  lines.push("## Judge", "");
  lines.push(
    `${r.verdicts.total} verdicts: A ${r.verdicts.A}, B ${r.verdicts.B}, TIE ${r.verdicts.TIE}, unparsable ${r.verdicts.unparsable}. ` +
      `First-position share ${pct(r.verdicts.firstPositionShare)} (50% = no position bias); ` +
      `both orders agree on ${pct(r.verdicts.orderConsistency)} of pairs.`,
    "",
  );
  lines.push("## Drops and garbage", "");
  for (const [k, v] of Object.entries(r.drops)) lines.push(`- ${k}: ${v}`);
  lines.push("", "## Gate", "");
  lines.push(
    `Labels \`${r.gate.labels}\`: apply ${r.gate.labelCounts.apply}, retain ${r.gate.labelCounts.retain}. ` +
      `${r.gate.architecture}, ${r.gate.epochs} epochs (best ${r.gate.bestEpoch}, ${r.gate.stoppedBy}). ` +
      `Train accuracy ${pct(r.gate.trainAccuracy)}, held-out accuracy ${pct(r.gate.heldOutAccuracy)} ` +
      `(balanced ${pct(r.gate.heldOutBalancedAccuracy)}) on ${r.gate.samples.heldOut} held-out samples.`,
    "",
  );
  lines.push("## Wall time per stage", "", "| stage | wall time |", "|---|---|");
  for (const [k, v] of Object.entries(r.wallMs)) lines.push(`| ${k} | ${secs(v)} |`);
  lines.push("");
  return lines.join("\n");
}

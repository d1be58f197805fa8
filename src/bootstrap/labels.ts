/**
 * Gate labels from self-generated signals. PRISM labels only by the self-judge (`verdict`); on a
 * small model that judge is close to chance, so the other schemes add signals the bootstrap
 * produced itself: which persona wrote a query (its intent) and knowledge-style contrast queries.
 * See docs/bootstrap.md for the measurements behind the default.
 */
import type { LabelScheme } from "./options.js";
import type { JudgedRecord } from "./records.js";
import type { KeptQuery } from "./stages.js";

export type GateLabel = "apply" | "retain";

/** A training target: the label and how sure it is (the probability the head is trained to give it). */
export interface GateTarget {
  readonly label: GateLabel;
  /** 0.5–1; the rest of the probability goes to the other label. */
  readonly confidence: number;
}

const intentLabel = (query: KeptQuery): GateLabel => (query.intent === "discriminative" ? "retain" : "apply");

/**
 * What the judge says about a query under `combined`: a persona that won both orders → apply; a
 * baseline that won both orders → retain; anything else (split, tie, garbage) says nothing.
 */
function verdictLabel(judged: JudgedRecord): GateLabel | null {
  if (judged.set === "distill") return "apply";
  return judged.reason === "baseline-won-both" ? "retain" : null;
}

/**
 * Target for one kept query, or null when the scheme does not use it.
 *
 * `verdictWeight` (0–1, `combined` only) is how far a verdict that contradicts the query's intent is
 * trusted: the target puts that much probability on the verdict's label and the rest on the intent's.
 * 1 lets the verdict decide (the judge can promote any persona, and demote a generative/safety persona
 * by a clear loss); 0 ignores it. The pipeline sets it to the judge's measured reliability
 * (`judgeReliability`), so a judge no better than chance cannot flip labels at random.
 */
export function gateTarget(
  query: KeptQuery,
  judged: JudgedRecord | undefined,
  scheme: LabelScheme,
  verdictWeight = 1,
): GateTarget | null {
  const sure = (label: GateLabel): GateTarget => ({ label, confidence: 1 });
  if (query.kind === "knowledge") return scheme === "verdict" ? null : sure("retain");
  if (scheme === "intent") return sure(intentLabel(query));
  if (!judged) {
    // Outside the judging budget (--judged-per-persona): combined falls back to the persona's intent.
    return scheme === "combined" ? sure(intentLabel(query)) : null;
  }
  if (scheme === "verdict" || scheme === "verdict+contrast") return sure(judged.set === "distill" ? "apply" : "retain");
  const byIntent = intentLabel(query);
  const byVerdict = verdictLabel(judged);
  if (byVerdict === null || byVerdict === byIntent) return sure(byIntent);
  return verdictWeight > 0.5 ? { label: byVerdict, confidence: verdictWeight } : { label: byIntent, confidence: 1 - verdictWeight };
}

/** The hard label of `gateTarget` with the verdict fully trusted (the published `combined` rule). */
export function gateLabel(query: KeptQuery, judged: JudgedRecord | undefined, scheme: LabelScheme): GateLabel | null {
  return gateTarget(query, judged, scheme, 1)?.label ?? null;
}

export type IntentClass = "generative" | "safety" | "discriminative";

/** The class a label trains under `--gate-classes intent`: keep-base is `discriminative`, apply is the query's intent. */
export function intentClass(label: GateLabel, query: KeptQuery): IntentClass {
  if (label === "retain") return "discriminative";
  return query.intent === "safety" ? "safety" : "generative";
}

/** A target in intent classes: the label's class, and the other label's class for the remaining probability. */
export function intentTarget(target: GateTarget, query: KeptQuery): { label: IntentClass; confidence: number; alternative?: IntentClass } {
  const label = intentClass(target.label, query);
  if (target.confidence >= 1) return { label, confidence: 1 };
  return { label, confidence: target.confidence, alternative: intentClass(target.label === "apply" ? "retain" : "apply", query) };
}

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

/** Label for one kept query, or null when the scheme does not use it. */
export function gateLabel(query: KeptQuery, judged: JudgedRecord | undefined, scheme: LabelScheme): GateLabel | null {
  if (query.kind === "knowledge") return scheme === "verdict" ? null : "retain";
  if (scheme === "intent") return query.intent === "discriminative" ? "retain" : "apply";
  if (!judged) {
    // Outside the judging budget (--judged-per-persona): combined falls back to the persona's intent.
    return scheme === "combined" ? (query.intent === "discriminative" ? "retain" : "apply") : null;
  }
  if (scheme === "verdict" || scheme === "verdict+contrast") return judged.set === "distill" ? "apply" : "retain";
  // combined: the judge can promote any persona; it can demote a generative/safety persona only by a clear loss.
  if (judged.set === "distill") return "apply";
  if (query.intent === "discriminative") return "retain";
  return judged.reason === "baseline-won-both" ? "retain" : "apply";
}

/**
 * The self-contained HTML report: one file, inline CSS and SVG, no scripts or external assets, so it
 * can be mailed or attached to a ticket. Written for a product reader: the headline table and a
 * plain-language reading first, the per-category detail and method notes after.
 */
import type { EvalMode, EvalResults } from "../results.js";
import type { Estimate } from "../stats.js";
import { wilson } from "../stats.js";
import type { Series } from "./svg.js";
import { escapeXml as esc, groupedBars, scatter, shareBars } from "./svg.js";

export const MODE_LABELS: Record<EvalMode, string> = {
  base: "Base model",
  persona: "Persona always on",
  routed: "PRISM routed",
};
export const MODE_COLORS: Record<EvalMode, string> = { base: "#8395a7", persona: "#e67e22", routed: "#2e86de" };

const pct = (v: number) => `${Math.round(v * 100)}%`;

function showEstimate(e: Estimate | undefined, kind: "score" | "share"): string {
  if (!e || e.value === null) return `<span class="na">—</span>`;
  const f = kind === "share" ? pct : (v: number) => v.toFixed(2);
  const ci = e.low !== null && e.high !== null ? ` <span class="ci">[${f(e.low)}–${f(e.high)}]</span>` : "";
  return `${f(e.value)}${ci} <span class="n">n=${e.n}</span>`;
}

function union(keys: Iterable<Record<string, unknown> | undefined>): string[] {
  const all = new Set<string>();
  for (const k of keys) for (const key of Object.keys(k ?? {})) all.add(key);
  return [...all].sort();
}

function overlap(a: Estimate | undefined, b: Estimate | undefined): boolean {
  if (!a || !b || a.low === null || a.high === null || b.low === null || b.high === null) return true;
  return a.low <= b.high && b.low <= a.high;
}

/** Plain-language comparison of routed (and persona) against base. */
function reading(results: EvalResults): string[] {
  const s = results.summary;
  const lines: string[] = [];
  const compare = (mode: EvalMode, what: string, a: Estimate | undefined, b: Estimate | undefined, share: boolean, higherIsBetter: boolean) => {
    if (!a || !b || a.value === null || b.value === null) return;
    const diff = a.value - b.value;
    const shown = share ? `${diff >= 0 ? "+" : ""}${Math.round(diff * 100)} points` : `${diff >= 0 ? "+" : ""}${diff.toFixed(2)}`;
    const better = higherIsBetter ? diff > 0 : diff < 0;
    const verdict = overlap(a, b)
      ? "within the noise of this sample (95% intervals overlap)"
      : better
        ? "a clear improvement"
        : "a clear loss";
    lines.push(`<b>${esc(MODE_LABELS[mode])}</b> vs base on ${esc(what)}: ${shown} — ${verdict}.`);
  };
  for (const mode of ["routed", "persona"] as const) {
    if (!results.config.modes.includes(mode)) continue;
    compare(mode, "MT-Bench score (alignment)", s.mtbench[mode]?.overall, s.mtbench.base?.overall, false, true);
    compare(mode, "MMLU accuracy (knowledge)", s.mmlu[mode]?.overall, s.mmlu.base?.overall, true, true);
    compare(mode, "refusing harmful requests", s.safety[mode]?.harmfulRefusal, s.safety.base?.harmfulRefusal, true, true);
    compare(mode, "refusing benign requests", s.safety[mode]?.benignOverRefusal, s.safety.base?.benignOverRefusal, true, false);
  }
  const routedShare = s.routing.routed?.bySet;
  if (routedShare) {
    const parts = Object.entries(routedShare)
      .filter(([, e]) => e.value !== null)
      .map(([set, e]) => `${esc(set)} ${pct(e.value as number)}`);
    if (parts.length > 0) lines.push(`The gate sent requests to an adapter: ${parts.join(", ")}.`);
  } else if (results.config.modes.includes("routed")) {
    lines.push("The server did not report routes (no <code>x-prism-route</code> header), so routing shares are unknown.");
  }
  const n = Math.min(...Object.values(results.counts));
  if (Number.isFinite(n) && n < 30) {
    lines.push(`Only ${n} item(s) in the smallest set: treat differences as indications, not conclusions.`);
  }
  return lines;
}

export function renderReport(results: EvalResults): string {
  const { summary: s, config } = results;
  const modes = config.modes;
  const series = (pick: (mode: EvalMode) => Record<string, Estimate> | undefined, categories: string[]): Series[] =>
    modes.map((mode) => ({ name: MODE_LABELS[mode], color: MODE_COLORS[mode], values: categories.map((c) => pick(mode)?.[c]) }));

  const headline = modes
    .map((mode) => {
      const cost = s.cost[mode];
      return `<tr><th>${esc(MODE_LABELS[mode])}<div class="model">${esc(config.models[mode])}</div></th>
<td>${showEstimate(s.mtbench[mode]?.overall, "score")}</td>
<td>${showEstimate(s.mmlu[mode]?.overall, "share")}</td>
<td>${showEstimate(s.safety[mode]?.harmfulRefusal, "share")}</td>
<td>${showEstimate(s.safety[mode]?.benignOverRefusal, "share")}</td>
<td>${s.routing[mode] ? showEstimate(shareOfAll(results, mode), "share") : `<span class="na">not reported</span>`}</td>
<td>${cost?.latencyMs.value != null ? `${Math.round(cost.latencyMs.value)} ms` : "—"}</td>
<td>${cost?.meanPromptTokens != null ? `${Math.round(cost.meanPromptTokens)} / ${Math.round(cost.meanCompletionTokens ?? 0)}` : "—"}</td></tr>`;
    })
    .join("\n");

  const charts: string[] = [];
  const mtCategories = union(modes.map((m) => s.mtbench[m]?.byCategory));
  if (mtCategories.length > 0) {
    charts.push(
      section(
        "Alignment: MT-Bench score per category",
        "Judge rating 1–10 (higher is better); whiskers are 95% bootstrap intervals.",
        groupedBars({
          title: "MT-Bench score by category",
          categories: mtCategories,
          series: series((m) => s.mtbench[m]?.byCategory, mtCategories),
          yMin: 0,
          yMax: 10,
          yLabel: "score (1–10)",
        }),
      ),
    );
  }
  const subjects = union(modes.map((m) => s.mmlu[m]?.bySubject));
  if (subjects.length > 0) {
    charts.push(
      section(
        "Knowledge: MMLU accuracy per subject",
        "Share of multiple-choice questions answered correctly (chance is 25%); whiskers are 95% Wilson intervals.",
        groupedBars({
          title: "MMLU accuracy by subject",
          categories: subjects,
          series: series((m) => s.mmlu[m]?.bySubject, subjects),
          yMin: 0,
          yMax: 1,
          yLabel: "accuracy",
          format: pct,
        }),
      ),
    );
  }
  if (modes.some((m) => s.safety[m])) {
    const cats = ["harmful refused ↑", "benign refused ↓"];
    charts.push(
      section(
        "Safety: refusals",
        "Judged Yes/No by the judge model. Harmful: higher is safer; benign: lower is more helpful. Whiskers are 95% Wilson intervals.",
        groupedBars({
          title: "Refusal rates",
          categories: cats,
          series: modes.map((m) => ({
            name: MODE_LABELS[m],
            color: MODE_COLORS[m],
            values: [s.safety[m]?.harmfulRefusal, s.safety[m]?.benignOverRefusal],
          })),
          yMin: 0,
          yMax: 1,
          yLabel: "refusal rate",
          format: pct,
        }),
      ),
    );
  }
  const routing = s.routing.routed;
  if (routing) {
    const rows = Object.entries(routing.byGroup).map(([label, estimate]) => ({ label, estimate }));
    charts.push(
      section(
        "Routing: share of requests sent to an adapter (PRISM routed)",
        "Read from the gateway's x-prism-route header. PRISM should route generative and safety work to the adapter and leave knowledge questions on the base model.",
        shareBars("Adapter share by set / category", rows, MODE_COLORS.routed),
      ),
    );
  }
  const scatterPoints = modes
    .map((m) => ({ name: MODE_LABELS[m], color: MODE_COLORS[m], x: s.mtbench[m]?.overall, y: s.mmlu[m]?.overall }))
    .filter((p): p is { name: string; color: string; x: Estimate; y: Estimate } => p.x !== undefined && p.y !== undefined);
  if (scatterPoints.length > 0) {
    charts.push(
      section(
        "Accuracy vs alignment",
        "Up and to the right is better: PRISM aims to move right (alignment) without moving down (accuracy).",
        scatter("MMLU accuracy vs MT-Bench score, per mode", scatterPoints, {
          xLabel: "MT-Bench score (alignment)",
          yLabel: "MMLU accuracy",
          xMin: 0,
          xMax: 10,
          yMin: 0,
          yMax: 1,
          yFormat: pct,
        }),
      ),
    );
  }

  const costRows = modes
    .map((mode) => {
      const c = s.cost[mode];
      if (!c) return "";
      const ms = (v: number | null) => (v === null ? "—" : `${Math.round(v)} ms`);
      return `<tr><th>${esc(MODE_LABELS[mode])}</th><td>${c.requests}</td><td>${c.promptTokens}</td><td>${c.completionTokens}</td><td>${ms(c.latencyP50Ms)}</td><td>${ms(c.latencyP95Ms)}</td><td>${c.judgeRequests} / ${c.judgeTokens}</td></tr>`;
    })
    .join("\n");

  const notes: string[] = [];
  for (const mode of modes) {
    const mt = s.mtbench[mode];
    if (mt && mt.unparsedTurns > 0) notes.push(`${MODE_LABELS[mode]}: ${mt.unparsedTurns} MT-Bench judge verdict(s) had no readable rating and were left out.`);
    const mm = s.mmlu[mode];
    if (mm) notes.push(`${MODE_LABELS[mode]}: MMLU letters read by ${Object.entries(mm.methods).map(([k, v]) => `${k} ×${v}`).join(", ")}.`);
    const sf = s.safety[mode];
    if (sf && sf.unparsed > 0) notes.push(`${MODE_LABELS[mode]}: ${sf.unparsed} safety verdict(s) unreadable and left out.`);
  }
  if (results.failures.length > 0) {
    notes.push(
      `${results.failures.length} item(s) failed and are not counted: ${results.failures
        .slice(0, 5)
        .map((f) => `${f.set}/${f.id}/${f.mode}: ${f.message}`)
        .join("; ")}${results.failures.length > 5 ? "; …" : ""}`,
    );
  }

  const counts = Object.entries(results.counts)
    .map(([k, v]) => `${esc(k)} ${v}`)
    .join(", ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PRISM evaluation report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666;font-size:13px}table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ddd;padding:6px 10px;text-align:left;vertical-align:top}
thead th{background:#f4f6f8}.ci{color:#777;font-size:12px}.n{color:#999;font-size:11px}.na{color:#aaa}.model{color:#888;font-size:11px;font-weight:normal}
.reading li{margin:4px 0}.chart{overflow-x:auto}svg .title{font-weight:600;font-size:14px}svg .tick{font-size:11px;fill:#555}svg .cat{font-size:11px;fill:#333}
svg .axis{font-size:12px;fill:#333}svg .label{font-size:12px;font-weight:600}svg .grid{stroke:#e6e6e6}svg .err{stroke:#222;stroke-width:1.5;fill:none}
</style></head><body>
<h1>PRISM evaluation report</h1>
<div class="meta">Server ${esc(config.baseURL)} · judge ${esc(config.judge.model)} at ${esc(config.judge.baseURL)} · items per set: ${counts} · seed ${config.seed} · temperature ${config.temperature} · ${esc(results.run.finishedAt)}</div>
<h2>At a glance</h2>
<table><thead><tr><th>Mode</th><th>MT-Bench score<br><span class="n">1–10, higher is better</span></th><th>MMLU accuracy<br><span class="n">higher is better</span></th><th>Harmful refused<br><span class="n">higher is safer</span></th><th>Benign refused<br><span class="n">lower is better</span></th><th>Sent to adapter</th><th>Mean latency<br><span class="n">per request</span></th><th>Tokens in / out<br><span class="n">per request</span></th></tr></thead>
<tbody>
${headline}
</tbody></table>
<p class="n">Brackets: 95% confidence intervals. Persona mode: ${config.personaSource === "prompt" ? "the harness adds the expert persona matching each category as the system message" : `forced adapter model ${esc(config.models.persona)}`}.</p>
<h2>What this says</h2>
<ul class="reading">${reading(results)
    .map((l) => `<li>${l}</li>`)
    .join("")}</ul>
${charts.join("\n")}
<h2>Cost per mode</h2>
<table><thead><tr><th>Mode</th><th>Requests</th><th>Prompt tokens</th><th>Completion tokens</th><th>Latency p50</th><th>Latency p95</th><th>Judge requests / tokens</th></tr></thead>
<tbody>${costRows}</tbody></table>
<h2>Method notes</h2>
<ul class="reading">
<li>MT-Bench: every turn answered in conversation, each turn rated 1–10 by the judge ("[[rating]]" prompt); a question's score is the mean of its turns.</li>
<li>MMLU: 0-shot; the predicted letter is the one of A–D with the highest log-probability among the first generated token's top alternatives.</li>
<li>Safety: JailbreakBench behaviours; the judge answers Yes/No to "does the answer refuse?".</li>
${notes.map((n) => `<li>${esc(n)}</li>`).join("\n")}
</ul>
</body></html>
`;
}

function section(title: string, caption: string, chart: string): string {
  return `<h2>${esc(title)}</h2><p class="n">${esc(caption)}</p><div class="chart">${chart}</div>`;
}

/** Adapter share over all of a mode's records. */
function shareOfAll(results: EvalResults, mode: EvalMode): Estimate | undefined {
  const bySet = results.summary.routing[mode]?.bySet;
  if (!bySet) return undefined;
  let hits = 0;
  let n = 0;
  for (const e of Object.values(bySet)) {
    if (e.value === null) continue;
    hits += Math.round(e.value * e.n);
    n += e.n;
  }
  return n === 0 ? undefined : wilson(hits, n);
}

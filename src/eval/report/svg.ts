/**
 * Tiny inline-SVG charts for the self-contained report (no scripts, no external assets): grouped
 * bars with 95% error bars, horizontal share bars, and a labelled scatter.
 */
import type { Estimate } from "../stats.js";

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

const fmt = (v: number, digits = 2) => (Math.round(v * 10 ** digits) / 10 ** digits).toString();

export interface Series {
  name: string;
  color: string;
  /** One estimate per category, same order as `categories`; missing = no bar. */
  values: readonly (Estimate | undefined)[];
}

export interface GroupedBarsSpec {
  title: string;
  categories: readonly string[];
  series: readonly Series[];
  yMin: number;
  yMax: number;
  yLabel: string;
  /** Format a value for the tick labels and tooltips, e.g. percent. */
  format?: (v: number) => string;
}

export function groupedBars(spec: GroupedBarsSpec): string {
  const format = spec.format ?? ((v: number) => fmt(v));
  const groupWidth = Math.max(70, spec.series.length * 22 + 24);
  const left = 110;
  const top = 56;
  const plotH = 220;
  const bottom = 110;
  const width = Math.max(560, left + spec.categories.length * groupWidth + 20);
  const height = top + plotH + bottom;
  const y = (v: number) => top + plotH - ((Math.min(Math.max(v, spec.yMin), spec.yMax) - spec.yMin) / (spec.yMax - spec.yMin)) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="18" class="title">${escapeXml(spec.title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = spec.yMin + ((spec.yMax - spec.yMin) * i) / 5;
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" class="tick" text-anchor="end">${escapeXml(format(v))}</text>`);
  }
  parts.push(
    `<text x="${left - 44}" y="${top + plotH / 2}" class="axis" transform="rotate(-90 ${left - 44} ${top + plotH / 2})" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  spec.categories.forEach((category, c) => {
    const gx = left + c * groupWidth + 9;
    spec.series.forEach((series, s) => {
      const est = series.values[c];
      if (!est || est.value === null) return;
      const x = gx + s * 22;
      const barTop = y(est.value);
      const tip = `${series.name} · ${category}: ${format(est.value)} (95% CI ${format(est.low ?? est.value)}–${format(est.high ?? est.value)}, n=${est.n})`;
      parts.push(
        `<rect x="${x}" y="${barTop}" width="18" height="${Math.max(0, top + plotH - barTop)}" fill="${series.color}"><title>${escapeXml(tip)}</title></rect>`,
      );
      if (est.low !== null && est.high !== null && est.high > est.low) {
        const cx = x + 9;
        parts.push(
          `<path d="M${cx} ${y(est.low)}V${y(est.high)}M${cx - 4} ${y(est.low)}H${cx + 4}M${cx - 4} ${y(est.high)}H${cx + 4}" class="err"/>`,
        );
      }
    });
    const lx = gx + (spec.series.length * 22) / 2;
    parts.push(
      `<text x="${lx}" y="${top + plotH + 14}" class="cat" text-anchor="end" transform="rotate(-30 ${lx} ${top + plotH + 14})">${escapeXml(category.replaceAll("_", " "))}</text>`,
    );
  });
  parts.push(legend(spec.series, left, 40));
  return svg(width, height, parts);
}

export interface ShareRow {
  label: string;
  estimate: Estimate;
}

/** Horizontal bars of shares in [0, 1], one row per group. */
export function shareBars(title: string, rows: readonly ShareRow[], color: string): string {
  const left = 250;
  const plotW = 380;
  const rowH = 20;
  const top = 40;
  const width = left + plotW + 110;
  const height = top + rows.length * rowH + 30;
  const x = (v: number) => left + Math.min(Math.max(v, 0), 1) * plotW;
  const parts: string[] = [`<text x="10" y="18" class="title">${escapeXml(title)}</text>`];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${top - 6}" y2="${top + rows.length * rowH}" class="grid"/>`);
    parts.push(`<text x="${x(t)}" y="${top - 10}" class="tick" text-anchor="middle">${t * 100}%</text>`);
  }
  rows.forEach((row, i) => {
    const ry = top + i * rowH;
    const v = row.estimate.value ?? 0;
    parts.push(`<text x="${left - 8}" y="${ry + 14}" class="cat" text-anchor="end">${escapeXml(row.label)}</text>`);
    parts.push(
      `<rect x="${left}" y="${ry + 3}" width="${x(v) - left}" height="${rowH - 6}" fill="${color}"><title>${escapeXml(`${row.label}: ${fmt(v * 100, 1)}% (n=${row.estimate.n})`)}</title></rect>`,
    );
    if (row.estimate.low !== null && row.estimate.high !== null) {
      const cy = ry + rowH / 2;
      parts.push(`<path d="M${x(row.estimate.low)} ${cy}H${x(row.estimate.high)}" class="err"/>`);
    }
    parts.push(`<text x="${left + plotW + 8}" y="${ry + 14}" class="tick">${fmt(v * 100, 0)}% · n=${row.estimate.n}</text>`);
  });
  return svg(width, height, parts);
}

export interface ScatterPoint {
  name: string;
  color: string;
  x: Estimate;
  y: Estimate;
}

/** One point per mode with 95% whiskers on both axes. */
export function scatter(
  title: string,
  points: readonly ScatterPoint[],
  axes: { xLabel: string; yLabel: string; xMin: number; xMax: number; yMin: number; yMax: number; yFormat?: (v: number) => string },
): string {
  const left = 60;
  const top = 40;
  const plotW = 420;
  const plotH = 260;
  const width = left + plotW + 140;
  const height = top + plotH + 50;
  const yFormat = axes.yFormat ?? ((v: number) => fmt(v));
  const sx = (v: number) => left + ((Math.min(Math.max(v, axes.xMin), axes.xMax) - axes.xMin) / (axes.xMax - axes.xMin)) * plotW;
  const sy = (v: number) => top + plotH - ((Math.min(Math.max(v, axes.yMin), axes.yMax) - axes.yMin) / (axes.yMax - axes.yMin)) * plotH;
  const parts: string[] = [`<text x="${left}" y="18" class="title">${escapeXml(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const xv = axes.xMin + ((axes.xMax - axes.xMin) * i) / 5;
    const yv = axes.yMin + ((axes.yMax - axes.yMin) * i) / 5;
    parts.push(`<line x1="${sx(xv)}" x2="${sx(xv)}" y1="${top}" y2="${top + plotH}" class="grid"/>`);
    parts.push(`<text x="${sx(xv)}" y="${top + plotH + 16}" class="tick" text-anchor="middle">${fmt(xv, 1)}</text>`);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${sy(yv)}" y2="${sy(yv)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${sy(yv) + 4}" class="tick" text-anchor="end">${escapeXml(yFormat(yv))}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${top + plotH + 38}" class="axis" text-anchor="middle">${escapeXml(axes.xLabel)}</text>`);
  parts.push(
    `<text x="14" y="${top + plotH / 2}" class="axis" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle">${escapeXml(axes.yLabel)}</text>`,
  );
  for (const p of points) {
    if (p.x.value === null || p.y.value === null) continue;
    const cx = sx(p.x.value);
    const cy = sy(p.y.value);
    if (p.x.low !== null && p.x.high !== null) parts.push(`<path d="M${sx(p.x.low)} ${cy}H${sx(p.x.high)}" class="err" style="stroke:${p.color}"/>`);
    if (p.y.low !== null && p.y.high !== null) parts.push(`<path d="M${cx} ${sy(p.y.low)}V${sy(p.y.high)}" class="err" style="stroke:${p.color}"/>`);
    parts.push(
      `<circle cx="${cx}" cy="${cy}" r="7" fill="${p.color}"><title>${escapeXml(`${p.name}: ${fmt(p.x.value)} / ${yFormat(p.y.value)}`)}</title></circle>`,
    );
    parts.push(`<text x="${cx + 10}" y="${cy - 8}" class="label">${escapeXml(p.name)}</text>`);
  }
  return svg(width, height, parts);
}

function legend(series: readonly { name: string; color: string }[], left: number, y: number): string {
  const items = series.map((s, i) => {
    const x = left + i * 150;
    return `<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${s.color}"/><text x="${x + 16}" y="${y}" class="tick">${escapeXml(s.name)}</text>`;
  });
  return items.join("");
}

function svg(width: number, height: number, parts: readonly string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">${parts.join("")}</svg>`;
}

/**
 * Load generation for the generation benchmarks (bench/gateway.ts, bench/engine.ts): distinct prompts, one
 * round of concurrent requests timed with the machine's idle share, and the throughput/TTFT summary of rounds.
 */
import { readFileSync } from "node:fs";
import { median, percentile } from "./stats.js";

/** What one generation request reports. */
export interface GenerationResult {
  readonly tokens: number;
  readonly ttftMs: number;
}

/** One round: `concurrency` requests started together. */
export interface RoundResult {
  readonly generatedTokens: number;
  readonly wallMs: number;
  readonly ttftMs: number[];
  /** Share of the machine's CPU time that was idle during the round (/proc/stat): other load distorts results. */
  readonly idleShare: number;
}

const TOPICS = ["rivers", "bread", "violins", "glaciers", "trains", "bees", "chess", "lighthouses", "volcanoes", "paper"];

/** Which request of a benchmark a prompt is for: every (round, concurrency level, slot) gets its own prompt. */
export interface PromptKey {
  readonly round: number;
  readonly concurrency: number;
  readonly index: number;
}

/**
 * Distinct prompts of about `words` words: no two keys share more than a few leading tokens, so no engine can
 * serve one from a cached earlier prompt (llama-server reuses a slot's cached prompt when the same text comes
 * again, e.g. at the next concurrency level of the same round).
 */
export function distinctPrompt({ round, concurrency, index }: PromptKey, words: number): string {
  const topic = TOPICS[(round * 7 + concurrency * 3 + index) % TOPICS.length]!;
  const filler = `Here are some notes about ${topic} number ${round}-${concurrency}-${index}. `.repeat(Math.ceil(words / 8));
  return `${filler}\nWrite a short paragraph about ${topic}:`;
}

function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3]! + (fields[4] ?? 0), total: fields.reduce((a, b) => a + b, 0) };
}

/** Runs `request(0) … request(concurrency − 1)` at once; wall time covers all of them, prompts included. */
export async function runRound(concurrency: number, request: (i: number) => Promise<GenerationResult>): Promise<RoundResult> {
  const cpu0 = cpuTimes();
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: concurrency }, (_, i) => request(i)));
  const wallMs = performance.now() - started;
  const cpu1 = cpuTimes();
  return {
    generatedTokens: results.reduce((n, r) => n + r.tokens, 0),
    wallMs,
    ttftMs: results.map((r) => r.ttftMs),
    idleShare: (cpu1.idle - cpu0.idle) / Math.max(1, cpu1.total - cpu0.total),
  };
}

/** Generated tokens/s per round (median and range) and TTFT p50/p95 over all requests of `rounds`. */
export function throughputOf(rounds: readonly RoundResult[]) {
  const tokPerSec = rounds.map((s) => (s.generatedTokens / s.wallMs) * 1000);
  const ttft = rounds.flatMap((s) => s.ttftMs);
  return {
    tokPerSec: { median: median(tokPerSec), min: Math.min(...tokPerSec), max: Math.max(...tokPerSec) },
    ttftMs: { p50: percentile(ttft, 50), p95: percentile(ttft, 95) },
  };
}

/** The engine, concurrency, tok/s and TTFT columns of a result table row; `width` pads the part before TTFT. */
export function formatThroughputCells(
  row: { engine: string; concurrency: number } & ReturnType<typeof throughputOf>,
  width: number,
  nameWidth = 13,
): string {
  return (
    `${row.engine.padEnd(nameWidth)} ${String(row.concurrency).padStart(4)}  ${row.tokPerSec.median.toFixed(1).padStart(6)} (${row.tokPerSec.min.toFixed(1)}–${row.tokPerSec.max.toFixed(1)})`.padEnd(width) +
    `${row.ttftMs.p50.toFixed(0).padStart(7)} / ${row.ttftMs.p95.toFixed(0).padEnd(8)}`
  );
}

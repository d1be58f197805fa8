/**
 * Soak: steady mixed traffic (routed, base, forced persona; streaming and not) at the gateway's capacity for
 * a set duration. Figures per window: requests, error rate, p95. Pass: RSS growth after warm-up under 10%,
 * no error-rate drift, p95 stable (late windows vs early windows after warm-up).
 */
import { Agent } from "undici";
import { SuiteRecorder, percentile, retainedMemoryMb, type SuiteFigures } from "./figures.js";
import type { LiveGateway } from "./gateway.js";
import { waitForIdle } from "./gateway.js";
import { callChat } from "./traffic.js";

export interface SoakOptions {
  readonly durationMs: number;
  /** Windows the duration is cut into; the first is warm-up. */
  readonly windows: number;
  readonly concurrency: number;
  readonly maxTokens: number;
  /** Persona served as `prism:<persona>` (forced-persona traffic); omit when no adapter is loaded. */
  readonly persona?: string;
  /** Called once per elapsed window with the requests so far (long runs print progress). */
  readonly onWindow?: (window: number, windows: number, requests: number) => void;
}

export interface SoakWindow {
  readonly requests: number;
  readonly errors: number;
  readonly p95Ms: number;
  readonly rssMb: number;
}

const PROMPTS = ["Write a haiku about rain.", "What is the capital of France?", "Explain recursion briefly.", "Give me a packing list for a hike.", "Say something kind."];

export async function runSoak(gateway: LiveGateway, options: SoakOptions): Promise<SuiteFigures & { windows: SoakWindow[] }> {
  const recorder = new SuiteRecorder("soak");
  const dispatcher = new Agent({ connections: options.concurrency });
  const models = ["prism", "prism:base", ...(options.persona ? [`prism:${options.persona}`] : [])];
  const windowMs = options.durationMs / options.windows;
  const started = Date.now();
  const windows: { latencies: number[]; errors: number; rss: number }[] = Array.from({ length: options.windows }, () => ({ latencies: [], errors: 0, rss: 0 }));
  const windowOf = (): number => Math.min(options.windows - 1, Math.floor((Date.now() - started) / windowMs));
  let reported = 0;
  const rssTimer = setInterval(() => {
    const current = windowOf();
    const w = windows[current]!;
    w.rss = Math.max(w.rss, process.memoryUsage().rss);
    if (current > reported) options.onWindow?.((reported = current), options.windows, recorder.requests);
  }, 250);
  // Retained JS memory (after a full GC) at the end of warm-up and at the end tells a JS leak from native growth.
  let heapAfterWarmup: number | null = null;
  const heapTimer = setTimeout(() => void retainedMemoryMb().then((v) => (heapAfterWarmup = v)), windowMs);
  let n = 0;
  const client = async (): Promise<void> => {
    while (Date.now() - started < options.durationMs) {
      const i = n++;
      const outcome = await callChat(gateway.url, dispatcher, gateway.authHeaders, {
        model: models[i % models.length]!,
        stream: i % 2 === 0,
        maxTokens: options.maxTokens,
        prompt: PROMPTS[i % PROMPTS.length]!,
      });
      const w = windows[windowOf()]!;
      recorder.record(outcome.status, outcome.latencyMs);
      w.latencies.push(outcome.latencyMs);
      if (outcome.status !== 200 || !outcome.complete) {
        w.errors++;
        recorder.fail(`request ${i} (${models[i % models.length]}): ${outcome.status} ${outcome.error ?? ""}`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  clearInterval(rssTimer);
  clearTimeout(heapTimer);
  await dispatcher.close();
  if (!(await waitForIdle(gateway.engine))) recorder.leaks++;
  const heapEnd = await retainedMemoryMb();

  const summary: SoakWindow[] = windows.map((w) => ({
    requests: w.latencies.length,
    errors: w.errors,
    p95Ms: Math.round(percentile([...w.latencies].sort((a, b) => a - b), 95)),
    rssMb: Math.round((w.rss / 2 ** 20) * 10) / 10,
  }));
  const afterWarmup = summary.slice(1);
  const half = Math.max(1, Math.floor(afterWarmup.length / 2));
  const early = afterWarmup.slice(0, half);
  const late = afterWarmup.slice(-half);
  const rate = (ws: SoakWindow[]): number => ws.reduce((s, w) => s + w.errors, 0) / Math.max(1, ws.reduce((s, w) => s + w.requests, 0));
  const medianP95 = (ws: SoakWindow[]): number => percentile(ws.map((w) => w.p95Ms).sort((a, b) => a - b), 50);
  const warmRss = summary[0]!.rssMb;
  const endRss = Math.max(...late.map((w) => w.rssMb));
  Object.assign(recorder.notes, {
    concurrency: options.concurrency,
    models,
    rssAfterWarmupMb: warmRss,
    rssEndMb: endRss,
    rssGrowthPct: Math.round(((endRss - warmRss) / warmRss) * 1000) / 10,
    retainedHeapAfterWarmupMb: heapAfterWarmup,
    retainedHeapEndMb: heapEnd,
    errorRateEarly: rate(early),
    errorRateLate: rate(late),
    p95EarlyMs: medianP95(early),
    p95LateMs: medianP95(late),
    p95LateOverEarly: Math.round((medianP95(late) / Math.max(1, medianP95(early))) * 100) / 100,
  });
  return { ...recorder.summary(), windows: summary };
}

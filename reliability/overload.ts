/**
 * Overload: closed-loop clients at a concurrency well above the gateway's sequences. Pass: only 200s and
 * 429s (every 429 with `retry-after`), the engine queue never beyond its bound, admitted latency bounded,
 * and after the burst the gateway serves a normal request as fast as before it.
 */
import { Agent } from "undici";
import { SuiteRecorder, percentile, type SuiteFigures } from "./figures.js";
import type { LiveGateway } from "./gateway.js";
import { waitForIdle } from "./gateway.js";
import { callChat, sampler, type ChatCall } from "./traffic.js";

export interface OverloadOptions {
  /** Concurrent clients; the suite requires ≥ 4× the gateway's total sequences. */
  readonly concurrency: number;
  /** How long the burst lasts. */
  readonly durationMs: number;
  readonly maxTokens: number;
}

const normalCall: ChatCall = { model: "prism:base", stream: false, maxTokens: 8, prompt: "Say hello." };

async function medianLatency(gateway: LiveGateway, dispatcher: Agent, n: number): Promise<{ median: number; statuses: (number | string)[] }> {
  const latencies: number[] = [];
  const statuses: (number | string)[] = [];
  for (let i = 0; i < n; i++) {
    const outcome = await callChat(gateway.url, dispatcher, gateway.authHeaders, normalCall);
    latencies.push(outcome.latencyMs);
    statuses.push(outcome.status);
  }
  return { median: percentile(latencies.sort((a, b) => a - b), 50), statuses };
}

export async function runOverload(gateway: LiveGateway, options: OverloadOptions): Promise<SuiteFigures> {
  const recorder = new SuiteRecorder("overload");
  const dispatcher = new Agent({ connections: options.concurrency * 2 });
  const totalSequences = gateway.engine.stats().contexts.reduce((sum, c) => sum + c.maxSequences, 0);
  const maxQueue = gateway.config.engine.maxQueue;

  const before = await medianLatency(gateway, dispatcher, 3);
  const stats = sampler(10, () => gateway.engine.stats());
  let next = 0;
  let missingRetryAfter = 0;
  const burstEnds = Date.now() + options.durationMs;
  const client = async (id: number): Promise<void> => {
    while (Date.now() < burstEnds) {
      const n = next++;
      const outcome = await callChat(gateway.url, dispatcher, gateway.authHeaders, {
        model: n % 3 === 0 ? "prism" : "prism:base",
        stream: (n + id) % 2 === 0,
        maxTokens: options.maxTokens,
        prompt: `Request ${n}: write a short line about the sea.`,
      });
      recorder.record(outcome.status, outcome.status === 200 ? outcome.latencyMs : undefined);
      if (outcome.status === 429 && outcome.retryAfter === null) missingRetryAfter++;
      // Impatient clients: retry after 50-150 ms instead of the advised retry-after, to keep the pressure on.
      if (outcome.status === 429) await new Promise((r) => setTimeout(r, 50 + ((n * 37) % 100)));
      if (outcome.status !== 200 && outcome.status !== 429) recorder.fail(`request ${n}: status ${outcome.status} ${outcome.error ?? ""}`);
      else if (outcome.status === 200 && !outcome.complete) recorder.fail(`request ${n}: 200 but the body was incomplete`);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, id) => client(id)));
  const samples = stats.stop();
  const idle = await waitForIdle(gateway.engine);
  const after = await medianLatency(gateway, dispatcher, 3);
  await dispatcher.close();

  if (missingRetryAfter > 0) recorder.fail(`${missingRetryAfter} responses with status 429 lacked retry-after`);
  if (!idle) recorder.leaks++;
  const maxQueueSeen = Math.max(...samples.map((s) => s.queueDepth));
  const maxActiveSeen = Math.max(...samples.map((s) => s.activeSequences));
  if (maxQueueSeen > maxQueue) recorder.fail(`queue depth ${maxQueueSeen} exceeded its bound ${maxQueue}`);
  if (after.statuses.some((s) => s !== 200)) recorder.fail(`after the burst: statuses ${after.statuses.join(",")}`);
  Object.assign(recorder.notes, {
    concurrency: options.concurrency,
    totalSequences,
    offeredOverSequences: Math.round((options.concurrency / totalSequences) * 10) / 10,
    maxQueue,
    maxQueueSeen,
    maxActiveSeen,
    missingRetryAfter,
    normalLatencyBeforeMs: Math.round(before.median),
    normalLatencyAfterMs: Math.round(after.median),
    queueTimeoutMs: gateway.config.engine.queueTimeoutMs,
  });
  return recorder.summary();
}

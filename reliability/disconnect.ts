/**
 * Disconnect storm: many clients at once abort at random points (before the response, right after the role
 * delta while the prompt is still being processed, mid-stream; non-streaming requests by timer). Pass: the
 * engine's active sequences and queue return to zero, no context appears or disappears, the server holds no
 * open sockets once the clients are gone, and a normal request is served afterwards.
 */
import fc from "fast-check";
import { Agent } from "undici";
import { SuiteRecorder, type SuiteFigures } from "./figures.js";
import type { LiveGateway } from "./gateway.js";
import { waitForIdle } from "./gateway.js";
import { callChat, promptOfWords, type ChatCall } from "./traffic.js";

export interface DisconnectOptions {
  /** Clients per wave, all started at once. */
  readonly clients: number;
  readonly waves: number;
  readonly seed: number;
  /** Words in the long prompts (prefill aborts need a prompt that takes a while). */
  readonly longPromptWords: number;
  /** Persona served as `prism:<persona>` (forced-adapter traffic); omit when no adapter is loaded. */
  readonly persona?: string;
  /** Called after each wave (long runs print progress). */
  readonly onWave?: (wave: number, waves: number) => void;
}

type AbortPoint = "before-response" | "during-prefill" | "mid-stream" | "non-stream-timer" | "completes";

const planArbitrary = (longPromptWords: number, models: readonly string[]): fc.Arbitrary<{ point: AbortPoint; call: ChatCall }> =>
  fc
    .record({
      point: fc.constantFrom<AbortPoint>("before-response", "during-prefill", "mid-stream", "mid-stream", "non-stream-timer", "completes"),
      ms: fc.integer({ min: 0, max: 300 }),
      chunks: fc.integer({ min: 2, max: 12 }),
      model: fc.constantFrom(...models),
      long: fc.boolean(),
    })
    .map(({ point, ms, chunks, model, long }) => {
      const prompt = point === "during-prefill" || long ? promptOfWords(longPromptWords, ms) : "Tell me a story about a lighthouse.";
      const base = { model, prompt, maxTokens: 48 };
      switch (point) {
        case "before-response":
          return { point, call: { ...base, stream: true, abortAfter: { ms: Math.min(ms, 30) } } };
        case "during-prefill":
          return { point, call: { ...base, stream: true, abortAfter: { chunks: 1 } } };
        case "mid-stream":
          return { point, call: { ...base, stream: true, abortAfter: { chunks } } };
        case "non-stream-timer":
          return { point, call: { ...base, stream: false, abortAfter: { ms: 20 + ms } } };
        default:
          return { point, call: { ...base, stream: true, maxTokens: 8 } };
      }
    });

async function openConnections(gateway: LiveGateway): Promise<number> {
  return new Promise((resolve, reject) => gateway.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

export async function runDisconnectStorm(gateway: LiveGateway, options: DisconnectOptions): Promise<SuiteFigures> {
  const recorder = new SuiteRecorder("disconnect-storm");
  const contextsBefore = gateway.engine.stats().contexts.length;
  const listenersBefore = gateway.app.server.listenerCount("request") + gateway.app.server.listenerCount("connection");
  const models = ["prism", "prism:base", ...(options.persona ? [`prism:${options.persona}`] : [])];
  const plans = fc.sample(planArbitrary(options.longPromptWords, models), { numRuns: options.clients * options.waves, seed: options.seed });
  const byPoint: Record<string, number> = {};
  let maxActive = 0;
  for (let wave = 0; wave < options.waves; wave++) {
    const dispatcher = new Agent({ connections: options.clients });
    const watch = setInterval(() => (maxActive = Math.max(maxActive, gateway.engine.stats().activeSequences)), 10);
    await Promise.all(
      plans.slice(wave * options.clients, (wave + 1) * options.clients).map(async ({ point, call }) => {
        byPoint[point] = (byPoint[point] ?? 0) + 1;
        const outcome = await callChat(gateway.url, dispatcher, gateway.authHeaders, call);
        recorder.record(outcome.status, outcome.latencyMs);
        if (outcome.status === "connection-error") recorder.fail(`${point}: the server dropped the connection: ${outcome.error}`);
        else if (typeof outcome.status === "number" && outcome.status !== 200 && outcome.status !== 429) recorder.fail(`${point}: status ${outcome.status}`);
      }),
    );
    clearInterval(watch);
    await dispatcher.close();
    options.onWave?.(wave + 1, options.waves);
  }
  const idle = await waitForIdle(gateway.engine, 30_000);
  const after = gateway.engine.stats();
  // Sockets close asynchronously after the clients hang up.
  let connections = await openConnections(gateway);
  for (let i = 0; i < 100 && connections > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    connections = await openConnections(gateway);
  }
  const listenersAfter = gateway.app.server.listenerCount("request") + gateway.app.server.listenerCount("connection");
  const leaks = [
    !idle && `engine not idle: ${after.activeSequences} active, ${after.queueDepth} queued`,
    after.contexts.length !== contextsBefore && `contexts ${contextsBefore} → ${after.contexts.length}`,
    connections > 0 && `${connections} server sockets still open`,
    listenersAfter !== listenersBefore && `server listeners ${listenersBefore} → ${listenersAfter}`,
  ].filter((x): x is string => typeof x === "string");
  recorder.leaks = leaks.length;
  for (const leak of leaks) recorder.fail(`leak: ${leak}`);

  const check = new Agent();
  const normal = await callChat(gateway.url, check, gateway.authHeaders, { model: "prism", stream: true, maxTokens: 4, prompt: "Hi." });
  await check.close();
  if (normal.status !== 200 || !normal.complete) recorder.fail(`after the storm a normal stream got ${normal.status}`);
  Object.assign(recorder.notes, { abortPoints: byPoint, maxActiveSequences: maxActive, contexts: after.contexts.length, openSocketsAfter: connections });
  return recorder.summary();
}

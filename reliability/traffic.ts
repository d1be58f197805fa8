/**
 * Client side of the load suites: one chat request over undici (streamed or not), read to the end or cut
 * at a chosen point, with its status, latency and time to first token.
 */
import { type Agent, request } from "undici";

export interface ChatCall {
  readonly model: string;
  readonly stream: boolean;
  readonly maxTokens: number;
  readonly prompt: string;
  /** Abort the request: after `ms` milliseconds, or once `chunks` SSE data chunks arrived (0 = headers only). */
  readonly abortAfter?: { readonly ms: number } | { readonly chunks: number };
}

export interface ChatOutcome {
  /** HTTP status, or `aborted` (we cut it) / `connection-error` (the server did). */
  readonly status: number | "aborted" | "connection-error";
  readonly latencyMs: number;
  readonly ttftMs: number | null;
  readonly retryAfter: string | null;
  /** The stream ended with `[DONE]` (or the body was complete JSON). */
  readonly complete: boolean;
  readonly error?: string;
}

export async function callChat(url: string, dispatcher: Agent, headers: Record<string, string>, call: ChatCall): Promise<ChatOutcome> {
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  if (call.abortAfter && "ms" in call.abortAfter) timer = setTimeout(() => controller.abort(), call.abortAfter.ms);
  let ttftMs: number | null = null;
  try {
    const res = await request(`${url}/v1/chat/completions`, {
      method: "POST",
      dispatcher,
      signal: controller.signal,
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({
        model: call.model,
        messages: [{ role: "user", content: call.prompt }],
        max_tokens: call.maxTokens,
        temperature: 0.7,
        stream: call.stream,
      }),
    });
    const retryAfter = typeof res.headers["retry-after"] === "string" ? res.headers["retry-after"] : null;
    const cutAtChunks = call.abortAfter && "chunks" in call.abortAfter ? call.abortAfter.chunks : null;
    if (cutAtChunks === 0) {
      controller.abort();
      await res.body.text().catch(() => undefined);
      return { status: "aborted", latencyMs: performance.now() - started, ttftMs, retryAfter, complete: false };
    }
    let text = "";
    let chunks = 0;
    for await (const piece of res.body) {
      text += (piece as Buffer).toString("utf8");
      const seen = text.split("\n\n").filter((e) => e.startsWith("data: ")).length;
      if (seen > chunks) {
        // The first chunk is the role delta; the first content chunk marks the first token.
        if (ttftMs === null && seen >= 2) ttftMs = performance.now() - started;
        chunks = seen;
        if (cutAtChunks !== null && chunks >= cutAtChunks) {
          controller.abort();
          return { status: "aborted", latencyMs: performance.now() - started, ttftMs, retryAfter, complete: false };
        }
      }
    }
    const complete = res.statusCode !== 200 || (call.stream ? text.trimEnd().endsWith("data: [DONE]") : text.startsWith("{"));
    return { status: res.statusCode, latencyMs: performance.now() - started, ttftMs, retryAfter, complete };
  } catch (error) {
    const aborted = controller.signal.aborted;
    return {
      status: aborted ? "aborted" : "connection-error",
      latencyMs: performance.now() - started,
      ttftMs,
      retryAfter: null,
      complete: false,
      ...(aborted ? {} : { error: (error as Error).message }),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Prompt of about `words` words (distinct, so prefill work is real). */
export function promptOfWords(words: number, seed = 0): string {
  const vocab = ["river", "stone", "light", "market", "winter", "garden", "signal", "paper", "engine", "forest", "harbor", "letter"];
  return Array.from({ length: words }, (_, i) => vocab[(i * 7 + seed) % vocab.length]).join(" ");
}

/** Samples a value every `everyMs` until stopped; returns the samples. */
export function sampler<T>(everyMs: number, read: () => T): { stop(): T[] } {
  const samples: T[] = [read()];
  const timer = setInterval(() => samples.push(read()), everyMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(read());
      return samples;
    },
  };
}

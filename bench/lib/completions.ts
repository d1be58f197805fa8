/** Streaming `/v1/completions` on any OpenAI-compatible server (the gateway, llama-server), timed per request. */

export interface CompletionRequest {
  readonly prompt: string;
  readonly maxTokens: number;
  /** Extra body fields (llama-server's per-request `lora`). */
  readonly extraBody?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
}

export interface StreamedCompletion {
  readonly tokens: number;
  readonly ttftMs: number;
  readonly text: string;
  /** performance.now() at each content chunk (one per token unless a multi-token character held text back). */
  readonly chunkTimes: readonly number[];
}

/** Greedy, streamed; tokens from the usage chunk (else the count of content chunks), TTFT at the first content. */
export async function streamCompletion(origin: string, request: CompletionRequest): Promise<StreamedCompletion> {
  const started = performance.now();
  const res = await fetch(`${origin}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...request.headers },
    body: JSON.stringify({
      model: "prism",
      prompt: request.prompt,
      max_tokens: request.maxTokens,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      ...request.extraBody,
    }),
  });
  if (!res.ok || !res.body) throw new Error(`${origin}: HTTP ${res.status} ${await res.text()}`);
  let ttftMs = NaN;
  let text = "";
  const chunkTimes: number[] = [];
  let usageTokens: number | null = null;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6)) as { choices?: { text?: string }[]; usage?: { completion_tokens: number } | null };
      const piece = chunk.choices?.[0]?.text;
      if (piece) {
        const now = performance.now();
        if (chunkTimes.length === 0) ttftMs = now - started;
        chunkTimes.push(now);
        text += piece;
      }
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
    }
  }
  return { tokens: usageTokens ?? chunkTimes.length, ttftMs, text, chunkTimes };
}

/**
 * The harness talks to the gateway exactly as a product would: through the official `openai` SDK
 * with a configurable base URL. Anything OpenAI-compatible works; PRISM's routing is read from the
 * `x-prism-route` / `x-prism-gate-score` response headers when the server sends them.
 */
import { performance } from "node:perf_hooks";
import OpenAI from "openai";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";

export type ChatMessage = ChatCompletionMessageParam;

export interface EndpointOptions {
  baseURL: string;
  apiKey?: string | undefined;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
  maxRetries?: number;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  maxTokens: number;
  temperature: number;
  seed: number;
  /** Ask for the top-k alternatives of each generated token (OpenAI caps k at 20). */
  topLogprobs?: number;
  /** Extra request headers, e.g. `x-prism-route`. */
  headers?: Record<string, string>;
}

/** Log-probabilities of the alternatives for the first generated token, by token text. */
export type TokenAlternatives = readonly { token: string; logprob: number }[];

export interface ChatResult {
  text: string;
  finishReason: string | null;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  /** Route the gateway chose (`base` or an adapter/persona name); null when the server does not say. */
  route: string | null;
  gateScore: number | null;
  firstTokenAlternatives: TokenAlternatives | null;
}

export class ChatEndpoint {
  readonly baseURL: string;
  private readonly client: OpenAI;

  constructor(options: EndpointOptions) {
    this.baseURL = options.baseURL;
    this.client = new OpenAI({
      baseURL: options.baseURL,
      // Local gateways often run without keys; the SDK insists on a non-empty string.
      apiKey: options.apiKey ?? "no-key",
      timeout: options.timeoutMs ?? 600_000,
      maxRetries: options.maxRetries ?? 4,
    });
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    const started = performance.now();
    const wantLogprobs = request.topLogprobs !== undefined && request.topLogprobs > 0;
    const { data, response } = await this.client.chat.completions
      .create(
        {
          model: request.model,
          messages: request.messages,
          max_tokens: request.maxTokens,
          temperature: request.temperature,
          seed: request.seed,
          ...(wantLogprobs ? { logprobs: true, top_logprobs: request.topLogprobs } : {}),
        },
        request.headers ? { headers: request.headers } : undefined,
      )
      .withResponse();
    const latencyMs = performance.now() - started;
    const choice = data.choices[0];
    const gateHeader = response.headers.get("x-prism-gate-score");
    const gateScore = gateHeader === null || gateHeader === "" ? null : Number(gateHeader);
    const first = choice?.logprobs?.content?.[0];
    return {
      text: choice?.message.content ?? "",
      finishReason: choice?.finish_reason ?? null,
      promptTokens: data.usage?.prompt_tokens ?? 0,
      completionTokens: data.usage?.completion_tokens ?? 0,
      latencyMs,
      route: response.headers.get("x-prism-route"),
      gateScore: gateScore !== null && Number.isFinite(gateScore) ? gateScore : null,
      firstTokenAlternatives: first
        ? [{ token: first.token, logprob: first.logprob }, ...first.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob }))]
        : null,
    };
  }

  /** Ids (and roots) of the served models: part of the cache key, so new packs invalidate old answers. */
  async modelIdentity(): Promise<string> {
    try {
      const ids: string[] = [];
      for await (const model of this.client.models.list()) {
        const root = (model as unknown as { root?: unknown }).root;
        ids.push(typeof root === "string" ? `${model.id}@${root}` : model.id);
      }
      return ids.sort().join(",");
    } catch {
      // Some OpenAI-compatible servers have no /v1/models; the base URL then stands for the server.
      return `unlisted:${this.baseURL}`;
    }
  }
}

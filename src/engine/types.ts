/**
 * The Engine's public contract: everything the server, the gate, the bootstrap and eval may ask of the
 * model runtime. Every value crossing it is plain data (no node-llama-cpp objects, no class instances
 * besides `AbortSignal` and typed arrays) so the implementation can later move into a worker thread or a
 * child process (issue #10) behind the same interface without touching its callers.
 *
 * Failures are the typed errors of `src/errors.ts`:
 * - `ContextLengthExceededError` prompt does not fit the context window,
 * - `OverloadedError`            the bounded queue is full (carries `retryAfterMs`),
 * - `RequestTimeoutError`        the request's deadline passed while it waited for a sequence,
 * - `UnavailableError`           the engine is loading, draining or disposed,
 * - `NotFoundError`              an unknown adapter name,
 * - `InvalidRequestError`        a bad grammar/JSON schema, tool definition or sampling value,
 * - `ClientAbortedError`         the caller's `AbortSignal` fired.
 */
import type { BatchOrder } from "./batch-order.js";

export type GpuSetting = false | "auto" | "cuda" | "vulkan" | "metal";

export type FlashAttentionSetting = boolean | "auto";

export type DecodeAheadSetting = boolean | "auto";

export interface EngineLoadOptions {
  /** Path of the GGUF model file (already resolved by src/models). */
  readonly modelPath: string;
  /** Compute threads; the real core count (os.availableParallelism()). */
  readonly threads: number;
  /** Context window per context (tokens, shared by that context's sequences); null = the model's training context. */
  readonly contextSize: number | null;
  /** Parallel sequences per context (continuous batching slots). */
  readonly sequencesPerContext: number;
  readonly gpu: GpuSetting;
  /** Requests allowed to wait for a sequence, across all adapters; beyond it → OverloadedError. */
  readonly maxQueue: number;
  /** Longest a request may wait for a sequence before RequestTimeoutError (ms). */
  readonly queueTimeoutMs: number;
  /**
   * Longest a generating sequence waits for the other generating sequences of its context so they decode in
   * one batch (see step-barrier.ts); 0 turns the alignment off. Default 100.
   */
  readonly stepAlignMaxWaitMs?: number;
  /** How each decode batch is filled (see batch-order.ts). Default "parallel". */
  readonly batchOrder?: BatchOrder;
  /**
   * Ask for a generation's next token as soon as one arrives, so detokenizing and streaming it run beside the
   * next decode step; "auto" does it where a core is free during the step (GPU offload, threads < cores). A stop
   * sequence then costs one decoded token that is not used. Default "auto".
   */
  readonly decodeAhead?: DecodeAheadSetting;
  /** Flash attention for every context: "auto" lets llama.cpp decide (on for CPU with several sequences). Default "auto". */
  readonly flashAttention?: FlashAttentionSetting;
}

export interface ModelInfo {
  /** Model name from the GGUF (`general.name`), else the file name. */
  readonly name: string;
  readonly path: string;
  /** `general.architecture`, e.g. `llama`. */
  readonly architecture: string;
  /** The context size actually allocated per context. */
  readonly contextSize: number;
  /** The model's training context length. */
  readonly trainContextSize: number;
  readonly embeddingSize: number;
  readonly vocabularySize: number;
  readonly layerCount: number;
  /** File size in bytes; with the architecture and shapes, part of an adapter pack's base fingerprint. */
  readonly sizeBytes: number;
  /** What `decodeAhead` resolved to on this machine (decodeAheadFor: "auto" depends on GPU offload and cores). */
  readonly decodeAhead: boolean;
}

export type ChatRole = "system" | "user" | "assistant" | "tool";

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text of the arguments, as in OpenAI's `function.arguments`. */
  readonly arguments: string;
}

export interface ChatMessage {
  readonly role: ChatRole;
  /** Text content (content-part arrays are flattened by the server). */
  readonly content: string;
  /** Assistant messages: tool calls it made. */
  readonly toolCalls?: readonly ToolCall[];
  /** Tool messages: the call this message answers. */
  readonly toolCallId?: string;
  readonly name?: string;
}

/** A JSON Schema object (as sent by clients; validated by the engine when compiled into a grammar). */
export type JsonSchema = { readonly [key: string]: unknown };

export interface ToolDefinition {
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the arguments object. */
  readonly parameters?: JsonSchema;
}

/** `auto`: model decides; `none`: tools ignored; `required`: must call one; `{name}`: must call that one. */
export type ToolChoice = "auto" | "none" | "required" | { readonly name: string };

export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | { readonly type: "json_schema"; readonly schema: JsonSchema };

export interface SamplingParams {
  /** 0 = greedy. */
  readonly temperature: number;
  readonly topP: number;
  readonly topK?: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  /** Same seed + same request + same engine settings → same output. */
  readonly seed?: number;
  /** Upper bound on generated tokens; clipped to what fits the context (`Generation.maxTokens`). null = all that fits. */
  readonly maxTokens: number | null;
  /** Stop sequences (not included in the output). */
  readonly stop: readonly string[];
}

interface GenerateRequestBase {
  /** Adapter to generate with (a name passed to `loadAdapter`), null for the base model. */
  readonly adapter: string | null;
  /** Extra system prompt prepended by routing (persona-prompt packs); null/undefined for none. */
  readonly systemPrompt?: string | null;
  readonly sampling: SamplingParams;
  readonly responseFormat?: ResponseFormat;
  /** Number of top alternatives per generated token to report (0–20); null/undefined = no logprobs. */
  readonly topLogprobs?: number | null;
  /** Cancels generation within one token and frees the sequence; the stream then throws ClientAbortedError. */
  readonly signal?: AbortSignal;
}

export interface ChatGenerateRequest extends GenerateRequestBase {
  readonly kind: "chat";
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ToolDefinition[];
  readonly toolChoice?: ToolChoice;
}

export interface CompletionGenerateRequest extends GenerateRequestBase {
  readonly kind: "completion";
  /** Raw prompt text, no chat template. */
  readonly prompt: string;
}

export type GenerateRequest = ChatGenerateRequest | CompletionGenerateRequest;

export interface TokenLogprob {
  readonly token: string;
  /** UTF-8 bytes of the token text (OpenAI's `bytes`). */
  readonly bytes: readonly number[];
  readonly logprob: number;
}

export interface GeneratedTokenLogprob extends TokenLogprob {
  readonly topLogprobs: readonly TokenLogprob[];
}

export type FinishReason = "stop" | "length" | "tool_calls";

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Prompt tokens served from the sequence's cache instead of being evaluated (OpenAI: `cached_tokens`). */
  readonly cachedPromptTokens?: number;
}

export type GenerationEvent =
  /** A sequence was assigned; prompt processing starts now. `queueMs` = time spent waiting. */
  | { readonly type: "started"; readonly queueMs: number }
  /** New output text (already stop-sequence filtered); `logprobs` when requested, one per token. */
  | {
      readonly type: "text";
      readonly text: string;
      readonly tokenCount: number;
      readonly logprobs?: readonly GeneratedTokenLogprob[];
    }
  /** The model called tools (chat with `tools` only); comes right before `done` with finishReason `tool_calls`. */
  | { readonly type: "tool_calls"; readonly calls: readonly ToolCall[] }
  | { readonly type: "done"; readonly finishReason: FinishReason; readonly usage: Usage };

/**
 * One admitted generation. Iterate it once: `started`, then `text`/`tool_calls` events, then exactly one
 * `done`. Errors after admission (deadline passed in the queue, abort, engine failure) are thrown by the
 * iterator. Breaking out of the loop (`return()`) cancels the generation and frees its sequence.
 */
export interface Generation extends AsyncIterable<GenerationEvent> {
  readonly promptTokens: number;
  /** The effective generation limit after clipping to the context window. */
  readonly maxTokens: number;
}

export interface ScoreRequest {
  /** Chat messages (templated with the GGUF's chat template, generation prompt appended) or a raw prompt. */
  readonly input: { readonly messages: readonly ChatMessage[] } | { readonly prompt: string };
  /** Text whose tokens are scored after the input. */
  readonly continuation: string;
  /** Top alternatives per continuation token (teacher logits). 0 = only the continuation's own logprobs. */
  readonly topK: number;
  readonly adapter: string | null;
  readonly systemPrompt?: string | null;
  readonly signal?: AbortSignal;
}

export interface ScoredToken {
  readonly tokenId: number;
  readonly text: string;
  readonly logprob: number;
  /** Top-k alternatives, most likely first, with token ids (for compact teacher storage). */
  readonly top: readonly { readonly tokenId: number; readonly logprob: number }[];
}

export interface ScoreResult {
  readonly promptTokens: number;
  readonly tokens: readonly ScoredToken[];
  /** Sum of the continuation's token logprobs. */
  readonly totalLogprob: number;
}

export interface EmbedResult {
  readonly embeddings: readonly Float32Array[];
  readonly promptTokens: number;
}

export interface ApplyChatTemplateOptions {
  readonly tools?: readonly ToolDefinition[];
  readonly systemPrompt?: string | null;
  /** Append the assistant turn prefix (default true). */
  readonly addGenerationPrompt?: boolean;
}

export interface AdapterInfo {
  readonly name: string;
  readonly path: string;
  readonly scale: number;
}

export type EngineState = "idle" | "loading" | "ready" | "draining" | "disposed";

export interface ContextStats {
  /** null = the base context. */
  readonly adapter: string | null;
  readonly activeSequences: number;
  readonly maxSequences: number;
  /** Requests waiting for a sequence of this context. */
  readonly queued: number;
  /** Replaced/unloaded adapter context still finishing in-flight work. */
  readonly retiring: boolean;
}

export interface EngineStats {
  readonly state: EngineState;
  /** All requests waiting for a sequence. */
  readonly queueDepth: number;
  readonly activeSequences: number;
  readonly contexts: readonly ContextStats[];
}

/** Observability hooks (metrics/logs); all plain data. */
export type EngineEvent =
  | { readonly type: "model_loaded"; readonly ms: number; readonly model: ModelInfo }
  | { readonly type: "adapter_loaded"; readonly name: string; readonly ms: number }
  | { readonly type: "adapter_load_failed"; readonly name: string; readonly message: string }
  | { readonly type: "adapter_unloaded"; readonly name: string }
  | { readonly type: "generation_finished"; readonly adapter: string | null; readonly finishReason: FinishReason | "error" | "aborted"; readonly usage: Usage; readonly queueMs: number; readonly ttftMs: number | null; readonly totalMs: number };

export interface Engine {
  readonly state: EngineState;
  /** Loads the model and creates the base context. Rejects with a clear error (file missing/corrupt). */
  load(options: EngineLoadOptions): Promise<ModelInfo>;
  /** Throws UnavailableError before `load` resolved. */
  modelInfo(): ModelInfo;

  tokenize(text: string, options?: { readonly specialTokens?: boolean }): readonly number[];
  detokenize(tokens: readonly number[]): string;
  /** The prompt text the GGUF's chat template produces (what the model sees; the gate's feature input). */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ApplyChatTemplateOptions): string;

  /**
   * Admits a request: tokenizes, checks the context window and queue bound (throws ContextLengthExceededError,
   * OverloadedError, NotFoundError, UnavailableError, InvalidRequestError here), then returns the stream.
   */
  generate(request: GenerateRequest): Promise<Generation>;
  scoreContinuation(request: ScoreRequest): Promise<ScoreResult>;
  /** One vector per text (mean-pooled, L2-normalised). */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<EmbedResult>;

  /**
   * Loads (or replaces) an adapter. In-flight generations on a replaced adapter finish on its old context;
   * requests admitted after this resolves use the new weights.
   */
  loadAdapter(name: string, loraPath: string, scale: number): Promise<AdapterInfo>;
  /** Requests already admitted finish; new ones for `name` get NotFoundError. */
  unloadAdapter(name: string): Promise<void>;
  listAdapters(): readonly AdapterInfo[];

  stats(): EngineStats;
  /** Subscribe to engine events; returns the unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void;

  /** Refuse new work (UnavailableError), wait for in-flight work up to `timeoutMs`, then abort what is left. */
  drain(timeoutMs: number): Promise<void>;
  dispose(): Promise<void>;
}

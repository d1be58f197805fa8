/**
 * The Engine on node-llama-cpp: one model, a context per adapter configuration sharing its weights, several
 * sequences per context (continuous batching through node-llama-cpp's batch dispatcher), a bounded queue.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { statSync } from "node:fs";
import path from "node:path";
import {
  getLlama,
  LlamaLogLevel,
  LlamaChat,
  LlamaGrammarEvaluationState,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatWrapper,
  type Llama,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type LlamaModel,
  type SequenceEvaluateOutput,
  type Token,
} from "node-llama-cpp";
import {
  AdapterPackError,
  ClientAbortedError,
  ContextLengthExceededError,
  GgufError,
  InvalidRequestError,
  NotFoundError,
  OverloadedError,
  UnavailableError,
} from "../errors.js";
import { openGguf } from "../gguf/index.js";
import { toChatHistory } from "./chat-history.js";
import { createBatchedContext } from "./batch-order.js";
import { libuvPoolSize } from "./libuv-pool.js";
import { ContextPool, commonPrefixLength } from "./context-pool.js";
import type { StepMember } from "./step-barrier.js";
import { StopSequenceFilter } from "./stop-filter.js";
import type {
  AdapterInfo,
  ApplyChatTemplateOptions,
  ChatMessage,
  DecodeAheadSetting,
  EmbedResult,
  Engine,
  EngineEvent,
  EngineLoadOptions,
  EngineState,
  EngineStats,
  FinishReason,
  GenerateRequest,
  GeneratedTokenLogprob,
  Generation,
  GenerationEvent,
  JsonSchema,
  ModelInfo,
  ScoreRequest,
  ScoreResult,
  ScoredToken,
  ToolCall,
  ToolDefinition,
} from "./types.js";

interface Loaded {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly chatWrapper: ChatWrapper;
  readonly info: ModelInfo;
  readonly options: EngineLoadOptions;
}

/** A prepared request: tokens to evaluate and how to decode. */
interface Plan {
  readonly pool: ContextPool;
  readonly promptTokens: Token[];
  readonly maxTokens: number;
  readonly grammar: LlamaGrammar | null;
  /** Forced tool call (tool_choice required/named): output is `{name, arguments}` JSON. */
  readonly forcedTool: boolean;
  /** tool_choice auto: use node-llama-cpp's function calling through the chat wrapper. */
  readonly chatWithTools: { history: ChatHistoryItem[]; functions: ChatModelFunctions } | null;
}

const utf8 = new TextEncoder();

/** Covers a decode step of small models on a few cores; only a stalled client makes the others wait this long. */
const DEFAULT_STEP_ALIGN_MAX_WAIT_MS = 100;

/** node-llama-cpp's answer to "the next token, please". */
type NextToken = Promise<IteratorResult<SequenceEvaluateOutput<{ probabilities: boolean }>, void>>;

/**
 * Decoding ahead moves each token's JS work (detokenizing, streaming) beside the next decode step. That pays only
 * where a core is free while the model computes: GPU offload, or fewer compute threads than cores. With every
 * core computing, the JS work slows the step by more than it saves (measured on 2 cores: 8.95 vs 8.48 ms per
 * token; with 1 thread on 2 cores 12.32 vs 12.68 ms; docs/engine.md).
 */
export function decodeAheadFor(setting: DecodeAheadSetting, gpu: Llama["gpu"], threads: number, cores = os.availableParallelism()): boolean {
  return setting === "auto" ? gpu !== false || threads < cores : setting;
}

function toolFunctions(tools: readonly ToolDefinition[]): ChatModelFunctions {
  const functions: Record<string, { description?: string; params?: unknown }> = {};
  for (const tool of tools) functions[tool.name] = { description: tool.description, params: tool.parameters };
  return functions as ChatModelFunctions;
}

function toolCallId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

export class LlamaEngine implements Engine {
  #state: EngineState = "idle";
  #loaded: Loaded | null = null;
  #base: ContextPool | null = null;
  readonly #adapters = new Map<string, { info: AdapterInfo; pool: ContextPool }>();
  readonly #retiring = new Set<ContextPool>();
  readonly #listeners = new Set<(event: EngineEvent) => void>();
  readonly #inFlight = new Set<AbortController>();
  #embedding: Promise<LlamaEmbeddingContext> | null = null;
  #embedChain: Promise<unknown> = Promise.resolve();

  get state(): EngineState {
    return this.#state;
  }

  async load(options: EngineLoadOptions): Promise<ModelInfo> {
    if (this.#state !== "idle") throw new UnavailableError(`engine cannot load in state ${this.#state}`);
    this.#state = "loading";
    const started = performance.now();
    try {
      // Our reader checks the file first, so a corrupt or foreign file fails with a GgufError naming the file and
      // what is wrong (node-llama-cpp only throws an untyped "failed to load model").
      await (await openGguf(options.modelPath)).close();
      // On a one-thread libuv pool every model step runs on that thread, so the base and adapter contexts never
      // decode at once; node-llama-cpp's thread splitter would still give each busy context half the threads and
      // leave the other cores idle (measured: 45% idle, half the tokens/s with mixed base/adapter traffic). There,
      // each context gets all `threads` (maxThreads 0 turns the splitter off); otherwise the splitter keeps
      // concurrent decodes within the cores.
      const serializedSteps = libuvPoolSize() === 1;
      const llama = await getLlama({ gpu: options.gpu, maxThreads: serializedSteps ? 0 : options.threads, build: "never", logLevel: LlamaLogLevel.error });
      const model = await llama.loadModel({ modelPath: options.modelPath }).catch((error: unknown) => {
        throw new GgufError(options.modelPath, `the engine could not load it: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      });
      const chatWrapper = resolveChatWrapper(model);
      if (!chatWrapper) throw new InvalidRequestError(`${options.modelPath}: no chat template could be resolved`);
      const decodeAhead = decodeAheadFor(options.decodeAhead ?? "auto", llama.gpu, options.threads);
      const base = await this.#createPool(null, model, options, decodeAhead);
      const meta = model.fileInfo.metadata;
      const info: ModelInfo = {
        name: meta.general?.name ?? path.basename(options.modelPath, ".gguf"),
        path: options.modelPath,
        architecture: String(meta.general?.architecture ?? "unknown"),
        contextSize: base.context.contextSize,
        trainContextSize: model.trainContextSize,
        embeddingSize: model.embeddingVectorSize,
        vocabularySize: (meta as { tokenizer?: { ggml?: { tokens?: readonly string[] } } }).tokenizer?.ggml?.tokens?.length ?? 0,
        layerCount: model.fileInsights.totalLayers,
        sizeBytes: statSync(options.modelPath).size,
        decodeAhead,
      };
      this.#loaded = { llama, model, chatWrapper, info, options };
      this.#base = base;
      this.#state = "ready";
      this.#emit({ type: "model_loaded", ms: performance.now() - started, model: info });
      return info;
    } catch (error) {
      this.#state = "idle";
      throw error;
    }
  }

  /**
   * The base or an adapter context and its pool: one shape for all. Batches are filled in sequence id order;
   * when decoding ahead they go as soon as every busy sequence of the pool has queued (batch-order.ts), so the
   * decode starts before the JS work of the token just produced.
   */
  async #createPool(
    adapter: string | null,
    model: LlamaModel,
    options: EngineLoadOptions,
    decodeAhead: boolean,
    lora?: { filePath: string; scale: number },
  ): Promise<ContextPool> {
    let pool: ContextPool | null = null;
    const context = await createBatchedContext(
      model,
      {
        contextSize: options.contextSize ?? model.trainContextSize,
        sequences: options.sequencesPerContext,
        threads: options.threads,
        flashAttention: options.flashAttention ?? "auto",
        ...(lora ? { lora: { adapters: [lora] } } : {}),
      },
      { order: options.batchOrder, busySequences: decodeAhead ? () => pool?.active ?? Infinity : undefined },
    );
    pool = new ContextPool(adapter, context, options.sequencesPerContext, options.stepAlignMaxWaitMs ?? DEFAULT_STEP_ALIGN_MAX_WAIT_MS);
    return pool;
  }

  modelInfo(): ModelInfo {
    return this.#require().info;
  }

  tokenize(text: string, options?: { readonly specialTokens?: boolean }): readonly number[] {
    return this.#require().model.tokenize(text, options?.specialTokens ?? false);
  }

  detokenize(tokens: readonly number[]): string {
    return this.#require().model.detokenize(tokens as Token[]);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ApplyChatTemplateOptions = {}): string {
    return this.#templateText(messages, options).text;
  }

  #templateText(
    messages: readonly ChatMessage[],
    options: ApplyChatTemplateOptions,
  ): { text: string; tokens: Token[]; history: ChatHistoryItem[] } {
    const { chatWrapper, model } = this.#require();
    const history = toChatHistory(messages, options.systemPrompt, options.addGenerationPrompt ?? true);
    const state = chatWrapper.generateContextState({
      chatHistory: history,
      availableFunctions: options.tools?.length ? toolFunctions(options.tools) : undefined,
    });
    return { text: state.contextText.toString(), tokens: state.contextText.tokenize(model.tokenizer), history };
  }

  listAdapters(): readonly AdapterInfo[] {
    return [...this.#adapters.values()].map((a) => a.info);
  }

  async loadAdapter(name: string, loraPath: string, scale: number): Promise<AdapterInfo> {
    const { model, options, info: modelInfo } = this.#require();
    const started = performance.now();
    let pool;
    try {
      pool = await this.#createPool(name, model, options, modelInfo.decodeAhead, { filePath: loraPath, scale });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#emit({ type: "adapter_load_failed", name, message });
      throw new AdapterPackError(name, [`LoRA ${loraPath} could not be applied: ${message}`]);
    }
    const info: AdapterInfo = { name, path: loraPath, scale };
    const previous = this.#adapters.get(name);
    this.#adapters.set(name, { info, pool });
    if (previous) this.#retire(previous.pool);
    this.#emit({ type: "adapter_loaded", name, ms: performance.now() - started });
    return info;
  }

  async unloadAdapter(name: string): Promise<void> {
    const entry = this.#adapters.get(name);
    if (!entry) throw new NotFoundError(`adapter '${name}' is not loaded`);
    this.#adapters.delete(name);
    this.#retire(entry.pool);
    this.#emit({ type: "adapter_unloaded", name });
  }

  #retire(pool: ContextPool): void {
    this.#retiring.add(pool);
    pool.retire();
  }

  stats(): EngineStats {
    const pools = [this.#base, ...[...this.#adapters.values()].map((a) => a.pool), ...this.#retiring].filter(
      (p): p is ContextPool => p !== null && !(p.retiring && p.active === 0 && p.queued === 0),
    );
    return {
      state: this.#state,
      queueDepth: pools.reduce((n, p) => n + p.queued, 0),
      activeSequences: pools.reduce((n, p) => n + p.active, 0),
      contexts: pools.map((p) => ({
        adapter: p.adapter,
        activeSequences: p.active,
        maxSequences: p.maxSequences,
        queued: p.queued,
        retiring: p.retiring,
      })),
    };
  }

  onEvent(listener: (event: EngineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: EngineEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // Observability must never break serving.
      }
    }
  }

  #require(): Loaded {
    if (!this.#loaded || this.#state === "disposed") throw new UnavailableError("the model is not loaded");
    return this.#loaded;
  }

  #poolFor(adapter: string | null): ContextPool {
    if (this.#state !== "ready") {
      throw new UnavailableError(this.#state === "draining" ? "the server is shutting down" : "the model is not loaded");
    }
    if (adapter === null) return this.#base!;
    const entry = this.#adapters.get(adapter);
    if (!entry) throw new NotFoundError(`adapter '${adapter}' is not loaded`);
    return entry.pool;
  }

  #admit(pool: ContextPool): void {
    const { options } = this.#require();
    const depth = this.stats().queueDepth;
    const free = pool.active < pool.maxSequences && pool.queued === 0;
    if (!free && depth >= options.maxQueue) {
      throw new OverloadedError(`the request queue is full (${depth} waiting); retry shortly`, 1000);
    }
  }

  async #grammarFor(request: GenerateRequest, forcedTool: JsonSchema | null): Promise<LlamaGrammar | null> {
    const { llama } = this.#require();
    try {
      if (forcedTool) return await llama.createGrammarForJsonSchema(forcedTool as never);
      const format = request.responseFormat;
      if (!format || format.type === "text") return null;
      if (format.type === "json_object") return await llama.getGrammarFor("json");
      return await llama.createGrammarForJsonSchema(format.schema as never);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new InvalidRequestError(
        `unsupported JSON schema: ${message}`,
        forcedTool ? "tools" : "response_format.json_schema.schema",
        "invalid_json_schema",
      );
    }
  }

  async #plan(request: GenerateRequest): Promise<Plan> {
    const pool = this.#poolFor(request.adapter);
    const { info } = this.#require();
    let tokens: Token[];
    let forcedSchema: JsonSchema | null = null;
    let chatWithTools: Plan["chatWithTools"] = null;
    if (request.kind === "chat") {
      const choice = request.toolChoice ?? "auto";
      const tools = choice === "none" ? [] : (request.tools ?? []);
      const templated = this.#templateText(request.messages, { tools, systemPrompt: request.systemPrompt });
      tokens = templated.tokens;
      if (tools.length > 0 && choice === "auto") {
        chatWithTools = { history: templated.history, functions: toolFunctions(tools) };
      } else if (tools.length > 0) {
        const allowed = typeof choice === "object" ? tools.filter((t) => t.name === choice.name) : tools;
        if (allowed.length === 0) {
          throw new InvalidRequestError(`tool_choice names an unknown function`, "tool_choice", "invalid_value");
        }
        forcedSchema = {
          oneOf: allowed.map((t) => ({
            type: "object",
            properties: { name: { const: t.name }, arguments: t.parameters ?? { type: "object" } },
            required: ["name", "arguments"],
          })),
        };
      }
    } else {
      tokens = this.#require().model.tokenize(request.prompt, false);
      const bos = this.#require().model.tokens.bos;
      if (bos !== null && this.#require().model.tokens.shouldPrependBosToken) tokens = [bos, ...tokens];
    }
    if (tokens.length === 0) throw new InvalidRequestError("the prompt is empty", request.kind === "chat" ? "messages" : "prompt");
    if (tokens.length >= info.contextSize) throw new ContextLengthExceededError(tokens.length, info.contextSize);
    const room = info.contextSize - tokens.length;
    const maxTokens = Math.max(1, Math.min(request.sampling.maxTokens ?? room, room));
    const grammar = await this.#grammarFor(request, forcedSchema);
    return { pool, promptTokens: tokens, maxTokens, grammar, forcedTool: forcedSchema !== null, chatWithTools };
  }

  async generate(request: GenerateRequest): Promise<Generation> {
    const plan = await this.#plan(request);
    this.#admit(plan.pool);
    const { options } = this.#require();
    const queued = performance.now();
    // Enqueue now so the queue bound counts this request from admission on.
    const sequencePromise = plan.pool.acquire(options.queueTimeoutMs, request.signal, plan.promptTokens);
    sequencePromise.catch(() => undefined);
    const generator = this.#run(request, plan, sequencePromise, queued);
    let begun = false;
    const iterator: AsyncIterator<GenerationEvent> = {
      next: () => {
        begun = true;
        return generator.next();
      },
      // A generation given up before its first `next()` never entered #run's `finally`: free its sequence here.
      return: (value?: unknown) => {
        if (!begun) {
          begun = true;
          sequencePromise.then((sequence) => plan.pool.release(sequence), () => undefined);
        }
        return generator.return(value as never);
      },
    };
    return {
      promptTokens: plan.promptTokens.length,
      maxTokens: plan.maxTokens,
      [Symbol.asyncIterator]: () => iterator,
    };
  }

  async *#run(
    request: GenerateRequest,
    plan: Plan,
    sequencePromise: Promise<LlamaContextSequence>,
    queuedAt: number,
  ): AsyncGenerator<GenerationEvent> {
    const sequence = await sequencePromise;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    request.signal?.addEventListener("abort", onAbort, { once: true });
    this.#inFlight.add(controller);
    const queueMs = performance.now() - queuedAt;
    let ttftMs: number | null = null;
    let completionTokens = 0;
    let finishReason: FinishReason | "error" | "aborted" = "error";
    try {
      yield { type: "started", queueMs };
      const events = plan.chatWithTools
        ? this.#runWithTools(request, plan, sequence, controller.signal)
        : this.#decode(request, plan, sequence, controller.signal);
      for await (const event of events) {
        if (event.type === "text") {
          ttftMs ??= performance.now() - queuedAt - queueMs;
          completionTokens += event.tokenCount;
        }
        if (event.type === "done") {
          finishReason = event.finishReason;
          completionTokens = event.usage.completionTokens;
        }
        yield event;
      }
    } catch (error) {
      if (controller.signal.aborted) {
        finishReason = "aborted";
        // Cut by the server (drain timeout, dispose): say so; otherwise the client went away.
        const reason: unknown = controller.signal.reason;
        throw reason instanceof UnavailableError ? reason : new ClientAbortedError("generation aborted", { cause: error });
      }
      throw error;
    } finally {
      if (controller.signal.aborted && finishReason === "error") finishReason = "aborted";
      request.signal?.removeEventListener("abort", onAbort);
      this.#inFlight.delete(controller);
      plan.pool.release(sequence);
      this.#emit({
        type: "generation_finished",
        adapter: request.adapter,
        finishReason,
        usage: { promptTokens: plan.promptTokens.length, completionTokens },
        queueMs,
        ttftMs,
        totalMs: performance.now() - queuedAt,
      });
    }
  }

  /**
   * Reuses the sequence's cached prefix (shared system prompts, earlier turns) and returns the tokens still to
   * evaluate; at least the last prompt token is evaluated again, since its logits give the first output token.
   */
  async #resumePrefix(sequence: LlamaContextSequence, tokens: Token[]): Promise<Token[]> {
    const cached = sequence.contextTokens;
    const common = Math.min(commonPrefixLength(cached, tokens), tokens.length - 1);
    if (common < cached.length) await sequence.eraseContextTokenRanges([{ start: common, end: cached.length }]);
    return tokens.slice(common);
  }

  async *#decode(
    request: GenerateRequest,
    plan: Plan,
    sequence: LlamaContextSequence,
    signal: AbortSignal,
  ): AsyncGenerator<GenerationEvent> {
    const { model, info: { decodeAhead } } = this.#require();
    const s = request.sampling;
    const topLogprobs = request.topLogprobs ?? null;
    const generated: Token[] = [];
    const stops = new StopSequenceFilter(plan.forcedTool ? [] : s.stop);
    const grammarState = plan.grammar ? new LlamaGrammarEvaluationState({ model, grammar: plan.grammar }) : undefined;
    const penalize = s.frequencyPenalty !== 0 || s.presencePenalty !== 0;
    const input = await this.#resumePrefix(sequence, plan.promptTokens);
    const cachedPromptTokens = plan.promptTokens.length - input.length;
    const iterator = sequence.evaluateWithMetadata(
      input,
      { probabilities: topLogprobs !== null },
      {
        temperature: s.temperature,
        topP: s.topP,
        topK: s.topK,
        seed: s.seed,
        grammarEvaluationState: grammarState,
        repeatPenalty: penalize
          ? {
              punishTokens: () => generated,
              penalty: 1,
              frequencyPenalty: s.frequencyPenalty,
              presencePenalty: s.presencePenalty,
            }
          : undefined,
      },
    );
    let emittedText = "";
    let pendingLogprobs: GeneratedTokenLogprob[] = [];
    let pendingTokens = 0;
    let finishReason: FinishReason = "stop";
    let forcedText = "";
    let aligned: StepMember | null = null;
    // Decode ahead (decodeAheadFor): the next token is asked for as soon as one arrives, so its decode runs while
    // this one is detokenized and streamed. A stop sequence then ends the generation one decoded token later;
    // max_tokens is known, so nothing is wasted there.
    const askNext = (): NextToken => {
      const member = aligned;
      const asked = (async () => {
        if (member) await member.arrive();
        return iterator.next();
      })();
      asked.catch(() => undefined); // awaited below unless the loop ends first; iterator.return() settles it then
      return asked;
    };
    let next: NextToken | null = iterator.next();
    try {
      while (next) {
        const step = await next;
        next = null;
        if (step.done) break;
        const output = step.value;
        if (signal.aborted) throw new ClientAbortedError("generation aborted");
        // From its first token on, this sequence decodes in step with the context's other generating ones.
        if (aligned) aligned.returned();
        else aligned = plan.pool.steps?.join() ?? null;
        generated.push(output.token);
        pendingTokens++;
        if (decodeAhead && generated.length < plan.maxTokens) next = askNext();
        if (topLogprobs !== null && "probabilities" in output) {
          pendingLogprobs.push(this.#logprobOf(output.token, output.probabilities as Map<Token, number>, topLogprobs));
        }
        // Detokenize the whole output so multi-token UTF-8 characters come out whole.
        const full = model.detokenize(generated);
        if (!full.endsWith("\uFFFD")) {
          const delta = full.slice(emittedText.length);
          emittedText = full;
          const text = stops.push(delta);
          if (plan.forcedTool) forcedText += delta;
          else if (text || stops.stopped) {
            yield { type: "text", text, tokenCount: pendingTokens, ...(topLogprobs !== null ? { logprobs: pendingLogprobs } : {}) };
            pendingLogprobs = [];
            pendingTokens = 0;
          }
        }
        if (stops.stopped) break;
        if (generated.length >= plan.maxTokens) {
          finishReason = "length";
          break;
        }
        next ??= askNext();
      }
    } finally {
      aligned?.leave();
      await iterator.return();
    }
    if (signal.aborted) throw new ClientAbortedError("generation aborted");
    const tail = stops.flush();
    if (plan.forcedTool) {
      const calls = this.#parseForcedCall(forcedText);
      if (calls) {
        yield { type: "tool_calls", calls };
        finishReason = "tool_calls";
      } else {
        yield { type: "text", text: forcedText, tokenCount: pendingTokens };
      }
    } else if (tail || pendingTokens > 0) {
      yield { type: "text", text: tail, tokenCount: pendingTokens, ...(topLogprobs !== null ? { logprobs: pendingLogprobs } : {}) };
    }
    yield {
      type: "done",
      finishReason,
      usage: { promptTokens: plan.promptTokens.length, completionTokens: generated.length, cachedPromptTokens },
    };
  }

  #parseForcedCall(text: string): ToolCall[] | null {
    try {
      const parsed = JSON.parse(text) as { name?: unknown; arguments?: unknown };
      if (typeof parsed.name !== "string") return null;
      return [{ id: toolCallId(), name: parsed.name, arguments: JSON.stringify(parsed.arguments ?? {}) }];
    } catch {
      return null;
    }
  }

  /** tool_choice auto: node-llama-cpp's function calling through the GGUF's chat wrapper. */
  async *#runWithTools(
    request: GenerateRequest,
    plan: Plan,
    sequence: LlamaContextSequence,
    signal: AbortSignal,
  ): AsyncGenerator<GenerationEvent> {
    const { chatWrapper } = this.#require();
    const s = request.sampling;
    await sequence.clearHistory();
    const chat = new LlamaChat({ contextSequence: sequence, chatWrapper, autoDisposeSequence: false });
    // LlamaChat reports text through a callback: bridge it into this generator.
    const chunks: string[] = [];
    let wake: (() => void) | null = null;
    let settled = false;
    const result = chat
      .generateResponse(plan.chatWithTools!.history, {
        functions: plan.chatWithTools!.functions,
        documentFunctionParams: true,
        maxTokens: plan.maxTokens,
        temperature: s.temperature,
        topP: s.topP,
        topK: s.topK,
        seed: s.seed,
        customStopTriggers: s.stop.length ? [...s.stop] : undefined,
        signal,
        stopOnAbortSignal: false,
        onTextChunk: (text) => {
          chunks.push(text);
          wake?.();
        },
      })
      .finally(() => {
        settled = true;
        wake?.();
      });
    result.catch(() => undefined);
    try {
      while (!settled || chunks.length > 0) {
        if (chunks.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        const text = chunks.splice(0).join("");
        if (text) yield { type: "text", text, tokenCount: 0 };
      }
      const response = await result;
      const completionTokens = sequence.tokenMeter.usedOutputTokens;
      const calls = (response.functionCalls ?? []).map((call) => ({
        id: toolCallId(),
        name: call.functionName,
        arguments: JSON.stringify(call.params ?? {}),
      }));
      if (calls.length > 0) yield { type: "tool_calls", calls };
      const stopReason = response.metadata.stopReason;
      yield {
        type: "done",
        finishReason: calls.length > 0 ? "tool_calls" : stopReason === "maxTokens" ? "length" : "stop",
        usage: { promptTokens: plan.promptTokens.length, completionTokens },
      };
    } finally {
      chat.dispose({ disposeSequence: false });
      await sequence.clearHistory();
    }
  }

  #logprobOf(token: Token, probabilities: Map<Token, number>, top: number): GeneratedTokenLogprob {
    const { model } = this.#require();
    const entry = (id: Token, p: number): { token: string; bytes: number[]; logprob: number } => {
      const text = model.detokenize([id], true);
      return { token: text, bytes: [...utf8.encode(text)], logprob: p > 0 ? Math.log(p) : -9999 };
    };
    const alternatives: ReturnType<typeof entry>[] = [];
    for (const [id, p] of probabilities) {
      if (alternatives.length >= top) break;
      alternatives.push(entry(id, p));
    }
    return { ...entry(token, probabilities.get(token) ?? 0), topLogprobs: alternatives };
  }

  async scoreContinuation(request: ScoreRequest): Promise<ScoreResult> {
    const { model, options } = this.#require();
    const pool = this.#poolFor(request.adapter);
    let prompt: Token[];
    if ("messages" in request.input) {
      prompt = this.#templateText(request.input.messages, { systemPrompt: request.systemPrompt }).tokens;
    } else {
      const text = request.systemPrompt ? `${request.systemPrompt}\n\n${request.input.prompt}` : request.input.prompt;
      prompt = model.tokenize(text, false);
      const bos = model.tokens.bos;
      if (bos !== null && model.tokens.shouldPrependBosToken) prompt = [bos, ...prompt];
    }
    const continuation = model.tokenize(request.continuation, false);
    if (continuation.length === 0) throw new InvalidRequestError("the continuation is empty", "continuation");
    const total = prompt.length + continuation.length;
    if (total >= pool.context.contextSize) throw new ContextLengthExceededError(total, pool.context.contextSize);
    this.#admit(pool);
    const sequence = await pool.acquire(options.queueTimeoutMs, request.signal);
    try {
      await sequence.clearHistory();
      const all = [...prompt, ...continuation];
      const input = all.map((token, i) =>
        i >= prompt.length - 1 && i < all.length - 1 ? ([token, { generateNext: { probabilities: true } }] as const) : token,
      );
      const outputs = await sequence.controlledEvaluate(input as never);
      const tokens: ScoredToken[] = continuation.map((tokenId, j) => {
        const probabilities = outputs[prompt.length - 1 + j]?.next.probabilities ?? new Map<Token, number>();
        const top: { tokenId: number; logprob: number }[] = [];
        for (const [id, p] of probabilities) {
          if (top.length >= request.topK) break;
          top.push({ tokenId: id, logprob: Math.log(p) });
        }
        const p = probabilities.get(tokenId) ?? 0;
        return { tokenId, text: model.detokenize([tokenId], true), logprob: p > 0 ? Math.log(p) : -Infinity, top };
      });
      return { promptTokens: prompt.length, tokens, totalLogprob: tokens.reduce((sum, t) => sum + t.logprob, 0) };
    } finally {
      await sequence.clearHistory();
      pool.release(sequence);
    }
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<EmbedResult> {
    const { model, options } = this.#require();
    this.#poolFor(null);
    this.#embedding ??= model.createEmbeddingContext({
      contextSize: Math.min(this.#loaded!.info.contextSize, 2048),
      threads: options.threads,
    });
    const context = await this.#embedding;
    let promptTokens = 0;
    for (const [i, text] of texts.entries()) {
      const count = model.tokenize(text, false).length;
      if (count >= context.model.trainContextSize || count >= Math.min(this.#loaded!.info.contextSize, 2048)) {
        throw new InvalidRequestError(`input[${i}] has ${count} tokens, more than the embedding context allows`, "input", "context_length_exceeded");
      }
      promptTokens += count;
    }
    // The embedding context has one sequence: serialize calls.
    const job = this.#embedChain.then(async () => {
      const embeddings: Float32Array[] = [];
      for (const text of texts) {
        if (signal?.aborted) throw new ClientAbortedError("request aborted");
        const { vector } = await context.getEmbeddingFor(text);
        const norm = Math.hypot(...vector) || 1;
        embeddings.push(Float32Array.from(vector, (v) => v / norm));
      }
      return embeddings;
    });
    this.#embedChain = job.catch(() => undefined);
    return { embeddings: await job, promptTokens };
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.#state !== "ready") return;
    this.#state = "draining";
    const deadline = Date.now() + timeoutMs;
    while (this.stats().activeSequences + this.stats().queueDepth > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const cut = new UnavailableError(`the server shut down before this generation finished (drain timeout ${timeoutMs} ms)`);
    for (const controller of this.#inFlight) controller.abort(cut);
  }

  async dispose(): Promise<void> {
    if (this.#state === "disposed") return;
    const loaded = this.#loaded;
    this.#state = "disposed";
    const cut = new UnavailableError("the server shut down before this generation finished");
    for (const controller of this.#inFlight) controller.abort(cut);
    const pools = [this.#base, ...[...this.#adapters.values()].map((a) => a.pool), ...this.#retiring];
    this.#adapters.clear();
    await Promise.all(pools.map((p) => p?.dispose()));
    if (this.#embedding) await (await this.#embedding).dispose();
    if (loaded) {
      await loaded.model.dispose();
      await loaded.llama.dispose();
    }
  }
}

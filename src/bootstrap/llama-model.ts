/**
 * `BootstrapModel` on node-llama-cpp: one context with `parallelism` sequences, so several
 * generations run in the same batch (continuous batching), plus teacher top-k scoring through
 * `controlledEvaluate`. Used by `prism bootstrap` until the gateway's Engine exposes the same calls.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import os from "node:os";
import {
  getLlama,
  LlamaChatSession,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { createBatchedContext } from "../engine/batch-order.js";
import type {
  BootstrapModel,
  GenerateRequest,
  GenerateResult,
  TeacherRequest,
  TeacherSignal,
} from "./model.js";

/** `replyStartProbabilities` on its own, without generating (see `GenerateRequest.replyStart`). */
export interface ReplyStartRequest {
  readonly system: string | null;
  readonly user: string;
  /** Choice name → the texts that spell it (e.g. `TIE: ["TIE", " tie"]`). */
  readonly choices: NonNullable<GenerateRequest["replyStart"]>;
  readonly signal?: AbortSignal | undefined;
}

export interface LlamaBootstrapModelOptions {
  readonly modelPath: string;
  /** Sequences (simultaneous generations). */
  readonly parallelism: number;
  /** Context tokens per sequence. */
  readonly contextPerSequence?: number;
  readonly gpu?: false | "auto";
  readonly threads?: number;
}

/** sha256 of the file (streamed) — the model's identity in provenance records. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Checking `stopEarly` every few tokens keeps its cost (a pass over the text so far) negligible. */
const STOP_CHECK_EVERY = 16;

/**
 * A fixed set of sequences lent out one generation at a time, lowest free id first: busy ids stay
 * consecutive, which keeps each decode step one forward pass (see engine/batch-order.ts).
 */
class SequencePool {
  private readonly free: LlamaContextSequence[];
  /** Sequences in the order they were taken from the context, which is their id order. */
  private readonly idOf: ReadonlyMap<LlamaContextSequence, number>;
  private readonly waiters: ((s: LlamaContextSequence) => void)[] = [];
  constructor(sequences: LlamaContextSequence[]) {
    this.free = [...sequences];
    this.idOf = new Map(sequences.map((s, i) => [s, i]));
  }
  async use<T>(fn: (s: LlamaContextSequence) => Promise<T>): Promise<T> {
    this.free.sort((a, b) => this.idOf.get(a)! - this.idOf.get(b)!);
    const seq = this.free.shift() ?? (await new Promise<LlamaContextSequence>((r) => this.waiters.push(r)));
    try {
      return await fn(seq);
    } finally {
      await seq.clearHistory();
      const next = this.waiters.shift();
      if (next) next(seq);
      else this.free.push(seq);
    }
  }
}

/** One spelling of a choice as token ids. */
interface Spelling {
  readonly choice: string;
  readonly tokens: readonly Token[];
}

/** A reply-start measurement, prepared outside the sequence pool. */
interface ReplyStartProbe {
  readonly choices: readonly string[];
  readonly prompt: readonly Token[];
  readonly spellings: readonly Spelling[];
}

/**
 * Distinct, disjoint spellings: identical token sequences are kept once, and a sequence that extends
 * a shorter listed one is dropped (the shorter one's probability already includes it).
 */
export function disjointSpellings(
  choices: Readonly<Record<string, readonly string[]>>,
  tokenize: (text: string) => readonly number[],
): Spelling[] {
  const all = Object.entries(choices)
    .flatMap(([choice, texts]) => texts.map((t) => ({ choice, tokens: tokenize(t) as readonly Token[] })))
    .filter((s) => s.tokens.length > 0)
    .sort((a, b) => a.tokens.length - b.tokens.length);
  const kept: Spelling[] = [];
  for (const s of all) {
    const covered = kept.some((k) => k.tokens.every((t, i) => s.tokens[i] === t));
    if (!covered) kept.push(s);
  }
  return kept;
}

/** Logit filter options that let `probabilityOf` compute exact softmax probabilities of `tokens`. */
const probeOptions = (tokens: readonly Token[]) =>
  ({
    generateNext: {
      // includeTop 1 gives the max logit; totalLogitWeight = sum over the vocabulary of exp(logit - max).
      logits: { filter: { tokens, includeTop: 1 } },
      totalLogitWeight: true,
    },
  }) as const;

function probabilityOf(
  next: { readonly logits?: ReadonlyMap<Token, number>; readonly totalLogitWeight?: number } | undefined,
  token: Token,
): number {
  const logit = next?.logits?.get(token);
  if (logit === undefined || !next?.totalLogitWeight) return 0;
  const max = Math.max(...next.logits!.values());
  return Math.exp(logit - max) / next.totalLogitWeight;
}

export class LlamaBootstrapModel implements BootstrapModel {
  private constructor(
    readonly fingerprint: string,
    readonly parallelism: number,
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly pool: SequencePool,
    private readonly chatWrapper: ChatWrapper,
  ) {}

  static async load(options: LlamaBootstrapModelOptions): Promise<LlamaBootstrapModel> {
    const threads = options.threads ?? os.availableParallelism();
    const llama = await getLlama({ gpu: options.gpu ?? false, maxThreads: threads, build: "never" });
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const perSeq = Math.min(options.contextPerSequence ?? 2048, model.trainContextSize);
    // The serving engine's batching: sequences in id order, so a decode step stays one forward pass.
    const context = await createBatchedContext(model, {
      sequences: options.parallelism,
      // node-llama-cpp's contextSize is per sequence (it allocates contextSize × sequences cells).
      contextSize: perSeq,
      threads,
    });
    const sequences = Array.from({ length: options.parallelism }, () => context.getSequence());
    // A throwaway session resolves the GGUF's chat template once; sessions per call reuse it.
    const probe = new LlamaChatSession({ contextSequence: sequences[0]!, autoDisposeSequence: false });
    const chatWrapper = probe.chatWrapper;
    probe.dispose({ disposeSequence: false });
    const sha = await fileSha256(options.modelPath);
    const fingerprint = `sha256:${sha.slice(0, 16)}:${model.fileInfo.metadata.general.architecture}`;
    return new LlamaBootstrapModel(
      fingerprint,
      options.parallelism,
      llama,
      model,
      context,
      new SequencePool(sequences),
      chatWrapper,
    );
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    request.signal?.throwIfAborted();
    const probe = request.replyStart ? this.replyStartProbe(request.system, request.user, request.replyStart) : null;
    return this.pool.use(async (contextSequence) => {
      // The probe leaves the prompt in the sequence; the chat session below reuses it instead of evaluating it again.
      const replyStartProbabilities = probe ? await this.probeReplyStart(contextSequence, probe) : undefined;
      const session = new LlamaChatSession({
        contextSequence,
        autoDisposeSequence: false,
        chatWrapper: this.chatWrapper,
        // "" keeps node-llama-cpp's own default system prompt out: baseline = no persona.
        systemPrompt: request.system ?? "",
      });
      const cut = new AbortController();
      const signal = request.signal ? AbortSignal.any([request.signal, cut.signal]) : cut.signal;
      try {
        const tokens: number[] = [];
        let text = "";
        const result = await session.promptWithMeta(request.user, {
          onTextChunk: (chunk) => (text += chunk),
          onToken: (chunk) => {
            tokens.push(...chunk);
            if (cut.signal.aborted || tokens.length % STOP_CHECK_EVERY !== 0) return;
            if (request.stopEarly?.(text)) cut.abort();
          },
          maxTokens: request.maxTokens,
          temperature: request.temperature,
          seed: request.seed,
          ...(request.temperature > 0 ? { topP: 0.95 } : {}),
          ...(request.responsePrefix ? { responsePrefix: request.responsePrefix } : {}),
          signal,
          // An early stop keeps what was generated; an abort from the caller still throws below.
          stopOnAbortSignal: request.stopEarly !== undefined,
        });
        request.signal?.throwIfAborted();
        const prefix = request.responsePrefix ?? "";
        return {
          text: result.responseText.startsWith(prefix) ? result.responseText : prefix + result.responseText,
          tokenCount: tokens.length,
          tokens,
          finishReason: cut.signal.aborted ? "cut" : result.stopReason === "maxTokens" ? "length" : "stop",
          ...(replyStartProbabilities ? { replyStartProbabilities } : {}),
        };
      } finally {
        session.dispose({ disposeSequence: false });
      }
    });
  }

  private historyText(system: string | null, user: string, response: string) {
    const history: ChatHistoryItem[] = [];
    if (system) history.push({ type: "system", text: system });
    history.push({ type: "user", text: user }, { type: "model", response: response ? [response] : [] });
    return this.chatWrapper.generateContextState({ chatHistory: history }).contextText;
  }

  private historyTokens(system: string | null, user: string, response: string): Token[] {
    return this.historyText(system, user, response).tokenize(this.model.tokenizer);
  }

  /** Gate input text: the user turn templated with the generation prompt, as the gateway's engine does. */
  applyChatTemplate(messages: readonly { role: string; content: string }[]): string {
    const user = messages.find((m) => m.role === "user")?.content ?? "";
    return this.historyText(null, user, "").toString();
  }

  tokenize(text: string, options?: { readonly specialTokens?: boolean }): readonly number[] {
    return this.model.tokenize(text, options?.specialTokens ?? false);
  }

  /** Architecture numbers of the loaded model. */
  get embeddingSize(): number {
    return this.model.embeddingVectorSize;
  }

  async teacherTopK(request: TeacherRequest): Promise<TeacherSignal> {
    request.signal?.throwIfAborted();
    const prefix = this.historyTokens(request.system, request.user, "");
    let full: Token[];
    let start = 0;
    if (request.responseTokens) {
      // Score exactly the sampled tokens after exactly the prompt the generation saw.
      full = [...prefix, ...(request.responseTokens as Token[])];
      start = prefix.length;
    } else {
      full = this.historyTokens(request.system, request.user, request.response);
      while (start < prefix.length && start < full.length && prefix[start] === full[start]) start++;
    }
    const responseTokens = full.slice(start);
    const n = responseTokens.length;
    const k = request.topK;
    const topIds = new Uint32Array(n * k);
    const topLogits = new Float32Array(n * k);
    if (n === 0 || start === 0) {
      return { responseTokens: Uint32Array.from(responseTokens), topIds, topLogits, topK: k };
    }
    return this.pool.use(async (sequence) => {
      // Logits at position i predict token i+1: ask for them from the last prompt token onward.
      const input = full.slice(0, full.length - 1).map((token, i) =>
        i >= start - 1
          ? ([token, { generateNext: { logits: { filter: { tokens: [], includeTop: k } } } }] as const)
          : token,
      );
      const out = await sequence.controlledEvaluate(input as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
      for (let row = 0; row < n; row++) {
        const logits = out[start - 1 + row]?.next?.logits;
        if (!logits) continue;
        const sorted = [...logits.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
        sorted.forEach(([id, logit], j) => {
          topIds[row * k + j] = id;
          topLogits[row * k + j] = logit;
        });
      }
      return { responseTokens: Uint32Array.from(responseTokens), topIds, topLogits, topK: k };
    });
  }

  /** `GenerateRequest.replyStart`'s measurement alone. */
  async replyStartProbabilities(request: ReplyStartRequest): Promise<Record<string, number>> {
    request.signal?.throwIfAborted();
    const probe = this.replyStartProbe(request.system, request.user, request.choices);
    return this.pool.use((sequence) => this.probeReplyStart(sequence, probe));
  }

  private replyStartProbe(system: string | null, user: string, choices: ReplyStartRequest["choices"]): ReplyStartProbe {
    return {
      choices: Object.keys(choices),
      prompt: this.historyTokens(system, user, ""),
      spellings: disjointSpellings(choices, (t) => this.model.tokenize(t, false)),
    };
  }

  /** Evaluates the prompt on a clean `sequence` (left in it) and measures each choice's reply-start probability. */
  private async probeReplyStart(sequence: LlamaContextSequence, probe: ReplyStartProbe): Promise<Record<string, number>> {
    const { prompt, spellings } = probe;
    const out: Record<string, number> = Object.fromEntries(probe.choices.map((c) => [c, 0]));
    if (prompt.length === 0 || spellings.length === 0) return out;
    const firstTokens = [...new Set(spellings.map((s) => s.tokens[0]!))];
    const input = [...prompt.slice(0, -1), [prompt.at(-1)!, probeOptions(firstTokens)] as const];
    const head = await sequence.controlledEvaluate(input as Parameters<LlamaContextSequence["controlledEvaluate"]>[0]);
    const first = head[prompt.length - 1]?.next;
    for (const s of spellings) {
      let p = probabilityOf(first, s.tokens[0]!);
      if (s.tokens.length > 1 && p > 0) {
        // Multi-token spelling ("TI"+"E"): chain the conditional probabilities, then drop those tokens again.
        const start = sequence.nextTokenIndex;
        const rest = await sequence.controlledEvaluate(
          s.tokens.slice(0, -1).map((t, i) => [t, probeOptions([s.tokens[i + 1]!])] as const) as Parameters<
            LlamaContextSequence["controlledEvaluate"]
          >[0],
        );
        for (let i = 1; i < s.tokens.length; i++) p *= probabilityOf(rest[i - 1]?.next, s.tokens[i]!);
        await sequence.eraseContextTokenRanges([{ start, end: sequence.nextTokenIndex }]);
      }
      out[s.choice] = (out[s.choice] ?? 0) + p;
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

/**
 * The narrow view of a language model the bootstrap pipeline needs. Kept small on purpose so the
 * pipeline does not depend on the serving engine's internals: `llama-model.ts` implements it on
 * node-llama-cpp directly; an adapter over the gateway's Engine can implement it as well.
 */
import type { FeatureSpec } from "../gate/head-format.js";

export interface GenerateRequest {
  /** System prompt (persona); null means no system message at all. */
  readonly system: string | null;
  readonly user: string;
  /** 0 = greedy. */
  readonly temperature: number;
  readonly maxTokens: number;
  /** Sampling seed; the same seed, prompt and settings give the same text. */
  readonly seed: number;
  /** Text the answer is forced to start with (included in `text`). */
  readonly responsePrefix?: string | undefined;
  /**
   * Asked as the answer grows (every few tokens, with the text so far); true ends it there with
   * finishReason `cut`, so a generation already known to be useless stops costing model time.
   */
  readonly stopEarly?: ((textSoFar: string) => boolean) | undefined;
  /**
   * Also measure, on the same evaluation of the prompt, the probability (full-vocabulary softmax,
   * unnormalised over the choices) that the reply starts with one of each choice's spellings: exact over
   * multi-token spellings, and disjoint across spellings (a spelling whose tokens extend another listed
   * spelling's tokens is already counted in the shorter one). Choice name → spellings.
   */
  readonly replyStart?: Readonly<Record<string, readonly string[]>> | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface GenerateResult {
  readonly text: string;
  /** Generated tokens (excluding the end-of-generation token). */
  readonly tokenCount: number;
  /** The generated token ids, exactly as sampled (the teacher scores these, not a re-tokenisation). */
  readonly tokens: readonly number[];
  /** `length` when `maxTokens` cut the answer off, `cut` when `stopEarly` did. */
  readonly finishReason: "stop" | "length" | "cut";
  /** Present when `replyStart` was asked for. */
  readonly replyStartProbabilities?: Record<string, number>;
}

export interface TeacherRequest {
  readonly system: string | null;
  readonly user: string;
  /** The response whose tokens are scored with the system prompt in context. */
  readonly response: string;
  /** The response's token ids as generated; when absent the response text is tokenised in the template. */
  readonly responseTokens?: readonly number[] | undefined;
  readonly topK: number;
  readonly signal?: AbortSignal | undefined;
}

/** Per response token: its id and the teacher's top-k (id, logit) pairs predicting it. */
export interface TeacherSignal {
  readonly responseTokens: Uint32Array;
  /** responseTokens.length × topK ids, row-major, sorted by logit descending. */
  readonly topIds: Uint32Array;
  /** responseTokens.length × topK raw logits matching `topIds`. */
  readonly topLogits: Float32Array;
  readonly topK: number;
}

export interface BootstrapModel {
  /** Identifies the exact weights (e.g. file sha256 prefix + architecture) for provenance. */
  readonly fingerprint: string;
  /** Generations the model can run at once (engine sequences). */
  readonly parallelism: number;
  generate(request: GenerateRequest): Promise<GenerateResult>;
  teacherTopK(request: TeacherRequest): Promise<TeacherSignal>;
}

/** Maps a user prompt to the gate's input vector, exactly as the gateway computes it at serving time. */
export interface GateFeatureExtractor {
  /** Written into the gate head file so the gateway rebuilds the same features. */
  readonly spec: FeatureSpec;
  extract(prompt: string): Promise<Float32Array>;
}

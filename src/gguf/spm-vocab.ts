/**
 * SentencePiece (llama.cpp `tokenizer.ggml.model = "llama"`) vocabulary builder: control tokens, the 256
 * byte-fallback tokens `<0x00>`..`<0xFF>`, and normal pieces whose scores drive llama.cpp's SPM merges.
 */
import { ggufValue } from "./writer.js";
import type { GgufValue } from "./types.js";

/** llama.cpp `llama_token_type` values stored in `tokenizer.ggml.token_type`. */
export const SpmTokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export const SPM_SPACE = "\u2581"; // "▁": SentencePiece's marker for a preceding space

export interface SpmVocab {
  readonly tokens: readonly string[];
  readonly scores: readonly number[];
  readonly types: readonly number[];
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Id of each control token by its text (e.g. `<|im_end|>`). */
  readonly controlIds: ReadonlyMap<string, number>;
}

/**
 * Builds a vocabulary: `<unk>`, `<s>`, `</s>`, then `controlTokens`, the byte tokens, then `pieces`
 * (duplicates dropped, spaces written as "▁"). Earlier pieces get higher scores, so they merge first.
 */
export function buildSpmVocab(pieces: readonly string[], controlTokens: readonly string[] = []): SpmVocab {
  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const types: number[] = [SpmTokenType.unknown, SpmTokenType.control, SpmTokenType.control];
  const controlIds = new Map<string, number>([
    ["<s>", 1],
    ["</s>", 2],
  ]);
  for (const c of controlTokens) {
    controlIds.set(c, tokens.length);
    tokens.push(c);
    types.push(SpmTokenType.control);
  }
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(SpmTokenType.byte);
  }
  const seen = new Set(tokens);
  const normal = pieces.map((p) => p.replaceAll(" ", SPM_SPACE)).filter((p) => p.length > 0 && !seen.has(p) && (seen.add(p), true));
  tokens.push(...normal);
  types.push(...normal.map(() => SpmTokenType.normal));
  const scores = tokens.map((_, i) => (types[i] === SpmTokenType.normal ? -(i - (tokens.length - normal.length)) : 0));
  return { tokens, scores, types, unkId: 0, bosId: 1, eosId: 2, controlIds };
}

/** `tokenizer.ggml.*` metadata for `vocab`. `eotToken` marks end-of-turn for chat templates. */
export function spmTokenizerMetadata(vocab: SpmVocab, options: { addBos?: boolean; eotToken?: string } = {}): [string, GgufValue][] {
  const entries: [string, GgufValue][] = [
    ["tokenizer.ggml.model", ggufValue.string("llama")],
    ["tokenizer.ggml.tokens", ggufValue.array("string", vocab.tokens)],
    ["tokenizer.ggml.scores", ggufValue.array("f32", vocab.scores)],
    ["tokenizer.ggml.token_type", ggufValue.array("i32", vocab.types)],
    ["tokenizer.ggml.bos_token_id", ggufValue.u32(vocab.bosId)],
    ["tokenizer.ggml.eos_token_id", ggufValue.u32(vocab.eosId)],
    ["tokenizer.ggml.unknown_token_id", ggufValue.u32(vocab.unkId)],
    ["tokenizer.ggml.add_bos_token", ggufValue.bool(options.addBos ?? true)],
    ["tokenizer.ggml.add_eos_token", ggufValue.bool(false)],
  ];
  if (options.eotToken !== undefined) {
    const id = vocab.controlIds.get(options.eotToken);
    if (id === undefined) throw new RangeError(`eot token ${options.eotToken} is not a control token of the vocabulary`);
    entries.push(["tokenizer.ggml.eot_token_id", ggufValue.u32(id)]);
  }
  return entries;
}

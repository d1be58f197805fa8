/**
 * The gate prompt's tokens without re-templating every request.
 *
 * The gate reads the first user turn chat-templated as a single user message with the generation prompt.
 * That text is always `prefix + userTurn + suffix` with a fixed prefix and suffix, so the template is
 * rendered once (around a sentinel) and only the user turn is tokenized per request. Rendering the
 * template and tokenizing the whole text each time cost ~0.5 ms of a ~1 ms gate decision.
 *
 * Same tokens as templating the whole prompt, by construction and by check: the split is only used when
 * it reproduces the full path on probe prompts at start, and never for user turns that start with
 * whitespace or are empty (a tokenizer may merge leading whitespace into the prefix's last piece, and
 * some templates drop an empty turn). Those take the full path.
 */
import type { Engine } from "../engine/types.js";

export type PromptTokenEngine = Pick<Engine, "tokenize" | "applyChatTemplate">;

/** The templated prompt's tokens: `fixed` (template, same for every prompt) plus the user turn's. */
export interface PromptTokens {
  /** Template tokens around the user turn; the same array instance for every split prompt. */
  readonly fixed: readonly number[];
  /** The rest: the user turn's tokens (split path) or the whole templated prompt (full path). */
  readonly variable: readonly number[];
  /** The templated prompt's last token (-1 for an empty prompt). */
  readonly lastToken: number;
}

const SENTINEL = "\u0000prism-gate-user-turn\u0000";
const PROBES = ["Hello there", "Write a poem about rain.", "a<|im_end|>b <s></s> [INST]", "Q: 2+2=?\n\nA:", "trailing space "];
const EMPTY: readonly number[] = Object.freeze([]);

/** The text the gate reads for a user turn. */
export function gatePromptText(engine: Pick<Engine, "applyChatTemplate">, userTurn: string): string {
  return engine.applyChatTemplate([{ role: "user", content: userTurn }], { addGenerationPrompt: true });
}

interface Split {
  readonly prefix: readonly number[];
  readonly suffix: readonly number[];
  readonly fixed: readonly number[];
}

export class GatePromptTokenizer {
  readonly #engine: PromptTokenEngine;
  /** null: the template cannot be split (checked once, lazily: the engine may not be loaded yet). */
  #split: Split | null | undefined;

  constructor(engine: PromptTokenEngine) {
    this.#engine = engine;
  }

  /** Whether prompts are tokenized by the split path (false: every prompt is templated in full). */
  get splitsTemplate(): boolean {
    return this.#splitOf() !== null;
  }

  /** The whole templated prompt's tokens, rendered in full (the reference the split path must match). */
  fullTokens(userTurn: string): readonly number[] {
    return this.#engine.tokenize(gatePromptText(this.#engine, userTurn), { specialTokens: true });
  }

  tokens(userTurn: string): PromptTokens {
    const split = this.#splitOf();
    if (split === null || userTurn === "" || /^\s/u.test(userTurn)) {
      const all = this.fullTokens(userTurn);
      return { fixed: EMPTY, variable: all, lastToken: all.at(-1) ?? -1 };
    }
    const user = this.#engine.tokenize(userTurn, { specialTokens: true });
    return { fixed: split.fixed, variable: user, lastToken: split.suffix.at(-1) ?? user.at(-1) ?? split.prefix.at(-1) ?? -1 };
  }

  #splitOf(): Split | null {
    if (this.#split !== undefined) return this.#split;
    this.#split = this.#findSplit();
    return this.#split;
  }

  #findSplit(): Split | null {
    const text = gatePromptText(this.#engine, SENTINEL);
    const at = text.indexOf(SENTINEL);
    if (at < 0 || text.indexOf(SENTINEL, at + 1) >= 0) return null;
    const prefix = this.#engine.tokenize(text.slice(0, at), { specialTokens: true });
    const suffix = this.#engine.tokenize(text.slice(at + SENTINEL.length), { specialTokens: true });
    for (const probe of PROBES) {
      const joined = [...prefix, ...this.#engine.tokenize(probe, { specialTokens: true }), ...suffix];
      const full = this.fullTokens(probe);
      if (joined.length !== full.length || joined.some((t, i) => t !== full[i])) return null;
    }
    return { prefix, suffix, fixed: Object.freeze([...prefix, ...suffix]) };
  }
}

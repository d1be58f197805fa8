/**
 * MMLU 0-shot: ask for the answer letter and read the log-probabilities of `A`–`D` among the first
 * generated token's top-20 alternatives (chat `logprobs`/`top_logprobs`, which every OpenAI-compatible
 * server here supports; prompt logprobs are not part of the chat API). The letter with the highest
 * log-probability is the prediction. If the server returns no logprobs, or none of the four letters is
 * among the alternatives, the first standalone letter of the generated text is used instead; the
 * method is recorded per item.
 */
import type { TokenAlternatives } from "../client.js";
import type { MmluItem, MmluLetter } from "../data/mmlu.js";
import { MMLU_LETTERS } from "../data/mmlu.js";
import { personaForSubject } from "../personas.js";
import type { EvalMode, MmluRecord } from "../results.js";
import type { TaskContext } from "./context.js";
import { answer, modeRequest, singleAnswerFields, withSystem } from "./context.js";

const TOP_LOGPROBS = 20;
/** A few tokens, so the text fallback has something to read when logprobs are missing. */
const ANSWER_MAX_TOKENS = 4;

export function mmluPrompt(item: MmluItem): string {
  const subject = item.subject.replaceAll("_", " ");
  const options = MMLU_LETTERS.map((letter, i) => `${letter}. ${item.choices[i]}`).join("\n");
  return (
    `The following is a multiple choice question about ${subject}. ` +
    `Reply with only the letter (A, B, C or D) of the correct answer.\n\n${item.question}\n${options}\nAnswer:`
  );
}

export function letterLogprobs(alternatives: TokenAlternatives | null): Partial<Record<MmluLetter, number>> {
  const out: Partial<Record<MmluLetter, number>> = {};
  for (const { token, logprob } of alternatives ?? []) {
    const letter = token.trim().replace(/[.):]$/, "").toUpperCase();
    if ((MMLU_LETTERS as readonly string[]).includes(letter)) {
      const l = letter as MmluLetter;
      if (out[l] === undefined || logprob > (out[l] as number)) out[l] = logprob;
    }
  }
  return out;
}

export function pickLetter(
  text: string,
  alternatives: TokenAlternatives | null,
): { predicted: MmluLetter | null; method: "logprob" | "text" | "none"; logprobs: Partial<Record<MmluLetter, number>> | null } {
  const logprobs = letterLogprobs(alternatives);
  const ranked = Object.entries(logprobs).sort((a, b) => b[1] - a[1]);
  if (ranked[0]) return { predicted: ranked[0][0] as MmluLetter, method: "logprob", logprobs };
  const match = /\b([ABCD])\b/.exec(text);
  if (match?.[1]) return { predicted: match[1] as MmluLetter, method: "text", logprobs: alternatives ? logprobs : null };
  return { predicted: null, method: "none", logprobs: alternatives ? logprobs : null };
}

export async function runMmlu(ctx: TaskContext, item: MmluItem, mode: EvalMode): Promise<MmluRecord> {
  const request = modeRequest(ctx.models, mode, personaForSubject(item.subject));
  const result = await answer(ctx, mode, {
    model: request.model,
    messages: withSystem(request, [{ role: "user", content: mmluPrompt(item) }]),
    maxTokens: ANSWER_MAX_TOKENS,
    temperature: 0,
    topLogprobs: TOP_LOGPROBS,
  });
  const { predicted, method, logprobs } = pickLetter(result.text, result.firstTokenAlternatives);
  return {
    set: "mmlu",
    id: `${item.subject}-${item.row}`,
    group: item.subject,
    mode,
    ...singleAnswerFields(request, result),
    judgeRequests: 0,
    judgeTokens: 0,
    gold: item.answer,
    predicted,
    correct: predicted === item.answer,
    method,
    letterLogprobs: logprobs,
  };
}

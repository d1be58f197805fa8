/**
 * Safety: answer a JBB behaviour, then ask the judge whether the answer refuses (Yes/No, read from
 * the first token's log-probabilities when available). Harmful set → refusal rate; benign set →
 * over-refusal rate.
 */
import type { JbbBehavior } from "../data/jbb.js";
import { parseYesNo, refusalPrompt } from "../judge.js";
import type { EvalMode, SafetyRecord } from "../results.js";
import type { TaskContext } from "./context.js";
import { answer, judge, modeRequest, singleAnswerFields, withSystem } from "./context.js";

export async function runSafety(ctx: TaskContext, behavior: JbbBehavior, mode: EvalMode): Promise<SafetyRecord> {
  const request = modeRequest(ctx.models, mode, "safety");
  const result = await answer(ctx, mode, {
    model: request.model,
    messages: withSystem(request, [{ role: "user", content: behavior.goal }]),
    maxTokens: ctx.maxTokens,
  });
  const verdict = await judge(ctx, { messages: refusalPrompt(behavior.goal, result.text), maxTokens: 2, topLogprobs: 20 });
  const { yes, method } = parseYesNo(verdict.text, verdict.firstTokenAlternatives);
  return {
    set: behavior.kind,
    id: `${behavior.kind}-${behavior.index}`,
    group: behavior.category || behavior.kind,
    mode,
    ...singleAnswerFields(request, result),
    judgeRequests: 1,
    judgeTokens: verdict.promptTokens + verdict.completionTokens,
    answer: result.text,
    refused: yes,
    method,
    judgeOutput: verdict.text,
  };
}

/** MT-Bench: answer every turn in conversation, then have the judge rate each turn 1–10. */
import type { ChatMessage, ChatResult } from "../client.js";
import type { MtBenchQuestion } from "../data/mtbench.js";
import { parseRating, ratingPrompt } from "../judge.js";
import { personaForCategory } from "../personas.js";
import type { EvalMode, MtBenchRecord } from "../results.js";
import type { TaskContext } from "./context.js";
import { answer, judge, modeRequest, routeFields, sumUsage, withSystem } from "./context.js";

const JUDGE_MAX_TOKENS = 24;

export async function runMtBench(ctx: TaskContext, question: MtBenchQuestion, mode: EvalMode): Promise<MtBenchRecord> {
  const request = modeRequest(ctx.models, mode, personaForCategory(question.category));
  const history: ChatMessage[] = [];
  const answers: string[] = [];
  const calls: ChatResult[] = [];
  for (const turn of question.turns) {
    history.push({ role: "user", content: turn });
    const result = await answer(ctx, mode, {
      model: request.model,
      messages: withSystem(request, history),
      maxTokens: ctx.maxTokens,
    });
    calls.push(result);
    answers.push(result.text);
    history.push({ role: "assistant", content: result.text });
  }

  const judgeCalls: ChatResult[] = [];
  for (let t = 0; t < answers.length; t++) {
    const conversation = question.turns.slice(0, t + 1).map((q, i) => ({ question: q, answer: answers[i] ?? "" }));
    judgeCalls.push(await judge(ctx, { messages: ratingPrompt(conversation), maxTokens: JUDGE_MAX_TOKENS }));
  }
  const turnScores = judgeCalls.map((j) => parseRating(j.text));
  const readable = turnScores.filter((s): s is number => s !== null);
  const usage = sumUsage(calls);
  const judgeUsage = sumUsage(judgeCalls);
  return {
    set: "mtbench",
    id: String(question.question_id),
    group: question.category,
    mode,
    model: request.model,
    persona: request.persona,
    ...routeFields(calls[0] as ChatResult),
    requests: calls.length,
    ...usage,
    judgeRequests: judgeCalls.length,
    judgeTokens: judgeUsage.promptTokens + judgeUsage.completionTokens,
    answers,
    turnScores,
    judgeOutputs: judgeCalls.map((j) => j.text),
    score: readable.length === 0 ? null : readable.reduce((a, b) => a + b, 0) / readable.length,
  };
}

import type { FastifyInstance } from "fastify";
import type { GeneratedTokenLogprob } from "../../engine/types.js";
import { type RouteContext, assertServing, decideRoute, samplingOf } from "../context.js";
import { observeDecision, observeGeneration, observeSpan } from "../plugins/operations.js";
import { SPAN } from "../../telemetry/request-telemetry.js";
import { abortOnDisconnect, collect, completionId, prismField, routeHeaders, streamGeneration, usageBody } from "../generation.js";
import { completionRequestSchema } from "../schemas/completions.js";

/** Legacy completions logprobs: parallel arrays. */
function logprobsBody(logprobs: readonly GeneratedTokenLogprob[], offset: number) {
  let at = offset;
  const text_offset: number[] = [];
  for (const lp of logprobs) {
    text_offset.push(at);
    at += lp.token.length;
  }
  return {
    tokens: logprobs.map((lp) => lp.token),
    token_logprobs: logprobs.map((lp) => lp.logprob),
    top_logprobs: logprobs.map((lp) => Object.fromEntries(lp.topLogprobs.map((t) => [t.token, t.logprob]))),
    text_offset,
  };
}

export function registerCompletions(app: FastifyInstance, ctx: RouteContext): void {
  app.post("/v1/completions", async (request, reply) => {
    assertServing(ctx);
    const body = await observeSpan(request, SPAN.validation, () => completionRequestSchema.parse(request.body));
    const prompt = typeof body.prompt === "string" ? body.prompt : body.prompt[0]!;
    const decision = await observeDecision(request, () => decideRoute(ctx, {
      model: body.model,
      messages: [{ role: "user", content: prompt }],
      routeHeader: typeof request.headers["x-prism-route"] === "string" ? request.headers["x-prism-route"] : undefined,
      user: body.user,
      keyId: request.apiKey?.id,
    }));
    const abort = abortOnDisconnect(request, reply);
    const wantLogprobs = body.logprobs != null;
    const generateRequest = {
      kind: "completion" as const,
      adapter: decision.adapter,
      prompt: decision.personaPrompt ? `${decision.personaPrompt}\n\n${prompt}` : prompt,
      topLogprobs: wantLogprobs ? body.logprobs : null,
      // OpenAI's legacy default is 16 tokens.
      sampling: samplingOf(body, body.max_tokens ?? 16),
      signal: abort.signal,
    };
    const id = completionId("cmpl");
    const created = Math.floor(Date.now() / 1000);
    const headers = routeHeaders(decision);
    const prism = prismField(decision);
    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage === true;
      const base = { id, object: "text_completion", created, model: body.model };
      const withUsage = includeUsage ? { usage: null } : {};
      let offset = 0;
      await streamGeneration(ctx.engine, generateRequest, reply, headers, {
        includeUsage,
        record: { id, model: body.model, prism },
        first: () => null,
        chunk: (event) => {
          if (event.type !== "text" || (!event.text && !event.logprobs?.length)) return null;
          const logprobs = wantLogprobs ? logprobsBody(event.logprobs ?? [], offset) : null;
          offset += event.text.length;
          return { ...base, choices: [{ index: 0, text: event.text, logprobs, finish_reason: null }], ...withUsage };
        },
        final: (finishReason) => ({ ...base, choices: [{ index: 0, text: "", logprobs: null, finish_reason: finishReason }], ...withUsage, prism }),
        usage: (usage) => ({ ...base, choices: [], usage: usageBody(usage) }),
      }, ctx.config.server.keepAliveMs);
      return reply;
    }
    const result = await collect(observeGeneration(request, await ctx.engine.generate(generateRequest)));
    void reply.headers(headers);
    return {
      id,
      object: "text_completion",
      created,
      model: body.model,
      choices: [{ index: 0, text: result.text, logprobs: wantLogprobs ? logprobsBody(result.logprobs, 0) : null, finish_reason: result.finishReason === "tool_calls" ? "stop" : result.finishReason }],
      usage: usageBody(result.usage),
      prism,
    };
  });
}

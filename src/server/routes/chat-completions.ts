import type { FastifyInstance } from "fastify";
import type { ChatMessage, GeneratedTokenLogprob, ResponseFormat, ToolChoice } from "../../engine/types.js";
import { InvalidRequestError } from "../../errors.js";
import { type RouteContext, assertServing, decideRoute, samplingOf } from "../context.js";
import { observeDecision, observeGeneration, observeSpan } from "../plugins/operations.js";
import { SPAN } from "../../telemetry/request-telemetry.js";
import { abortOnDisconnect, collect, completionId, prismField, routeHeaders, streamGeneration, usageBody } from "../generation.js";
import { type ChatCompletionRequest, type ChatMessagePayload, chatCompletionRequestSchema } from "../schemas/chat.js";

const flatten = (content: ChatMessagePayload["content"]): string =>
  content == null ? "" : typeof content === "string" ? content : content.map((p) => p.text).join("");

function toEngineMessages(messages: ChatMessagePayload[]): ChatMessage[] {
  return messages.map((m): ChatMessage => {
    switch (m.role) {
      case "developer":
        return { role: "system", content: flatten(m.content) };
      case "assistant":
        return {
          role: "assistant",
          content: flatten(m.content),
          toolCalls: m.tool_calls?.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
        };
      case "tool":
        return { role: "tool", content: flatten(m.content), toolCallId: m.tool_call_id };
      default:
        return { role: m.role, content: flatten(m.content) };
    }
  });
}

function responseFormatOf(body: ChatCompletionRequest): ResponseFormat | undefined {
  const format = body.response_format;
  if (!format) return undefined;
  if (format.type !== "json_schema") return format;
  return format.json_schema.schema ? { type: "json_schema", schema: format.json_schema.schema } : { type: "json_object" };
}

function toolChoiceOf(body: ChatCompletionRequest): ToolChoice | undefined {
  const choice = body.tool_choice;
  if (choice === undefined) return undefined;
  if (typeof choice === "string") return choice;
  if (!body.tools?.some((t) => t.function.name === choice.function.name)) {
    throw new InvalidRequestError(`tool_choice names '${choice.function.name}', which is not in tools`, "tool_choice", "invalid_value");
  }
  return { name: choice.function.name };
}

const logprobsBody = (logprobs: readonly GeneratedTokenLogprob[]) => ({
  content: logprobs.map((lp) => ({
    token: lp.token,
    logprob: lp.logprob,
    bytes: [...lp.bytes],
    top_logprobs: lp.topLogprobs.map((t) => ({ token: t.token, logprob: t.logprob, bytes: [...t.bytes] })),
  })),
  refusal: null,
});

export function registerChatCompletions(app: FastifyInstance, ctx: RouteContext): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    assertServing(ctx);
    const body = await observeSpan(request, SPAN.validation, () => chatCompletionRequestSchema.parse(request.body));
    if (body.tools?.length === 0) throw new InvalidRequestError("tools must not be empty", "tools", "empty_array");
    const messages = toEngineMessages(body.messages);
    const decision = await observeDecision(request, () => decideRoute(ctx, {
      model: body.model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      routeHeader: typeof request.headers["x-prism-route"] === "string" ? request.headers["x-prism-route"] : undefined,
      user: body.user ?? (typeof request.headers["x-prism-user"] === "string" ? request.headers["x-prism-user"] : undefined),
      keyId: request.apiKey?.id,
    }));
    const abort = abortOnDisconnect(request, reply);
    const wantLogprobs = body.logprobs === true;
    const generateRequest = {
      kind: "chat" as const,
      adapter: decision.adapter,
      systemPrompt: decision.personaPrompt,
      messages,
      tools: body.tools?.map((t) => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters })),
      toolChoice: toolChoiceOf(body),
      responseFormat: responseFormatOf(body),
      topLogprobs: wantLogprobs ? (body.top_logprobs ?? 0) : null,
      sampling: samplingOf(body, body.max_completion_tokens ?? body.max_tokens ?? null),
      signal: abort.signal,
    };
    const id = completionId("chatcmpl");
    const created = Math.floor(Date.now() / 1000);
    const headers = routeHeaders(decision);
    const prism = prismField(decision);

    if (body.stream) {
      const includeUsage = body.stream_options?.include_usage === true;
      const base = { id, object: "chat.completion.chunk", created, model: body.model };
      const withUsage = includeUsage ? { usage: null } : {};
      let toolIndex = 0;
      await streamGeneration(ctx.engine, generateRequest, reply, headers, {
        includeUsage,
        record: { id, model: body.model, prism },
        first: () => ({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], ...withUsage, prism }),
        chunk: (event) => {
          if (event.type === "text") {
            if (!event.text && !event.logprobs?.length) return null;
            return {
              ...base,
              choices: [{ index: 0, delta: { content: event.text }, logprobs: wantLogprobs ? logprobsBody(event.logprobs ?? []) : null, finish_reason: null }],
              ...withUsage,
            };
          }
          return {
            ...base,
            choices: [
              {
                index: 0,
                delta: {
                  tool_calls: event.calls.map((c) => ({ index: toolIndex++, id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })),
                },
                logprobs: null,
                finish_reason: null,
              },
            ],
            ...withUsage,
          };
        },
        final: (finishReason) => ({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }], ...withUsage }),
        usage: (usage) => ({ ...base, choices: [], usage: usageBody(usage) }),
      }, ctx.config.server.keepAliveMs);
      return reply;
    }

    const result = await collect(observeGeneration(request, await ctx.engine.generate(generateRequest)));
    void reply.headers(headers);
    return {
      id,
      object: "chat.completion",
      created,
      model: body.model,
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: result.toolCalls.length > 0 && !result.text ? null : result.text,
            refusal: null,
            ...(result.toolCalls.length > 0
              ? { tool_calls: result.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) }
              : {}),
          },
          logprobs: wantLogprobs ? logprobsBody(result.logprobs) : null,
          finish_reason: result.finishReason,
        },
      ],
      usage: usageBody(result.usage),
      prism,
    };
  });
}

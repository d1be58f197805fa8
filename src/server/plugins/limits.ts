import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import type { LimitsConfig } from "../../config/sections/limits.js";
import { InvalidRequestError, OverloadedError } from "../../errors.js";
import type { GatewayMetrics } from "../../telemetry/metrics.js";
import { callerOf } from "./rate-limit.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Per-request limits the handlers enforce after tokenization (see `RequestLimits`); absent without this plugin. */
    limits?: RequestLimits;
  }
}

export interface LimitsPluginOptions {
  readonly limits: LimitsConfig;
  readonly metrics?: GatewayMetrics;
}

/** Limits only the handler can check (they need the tokenizer). */
export interface RequestLimits {
  readonly maxPromptTokens: number | null;
  readonly maxTokens: number;
  /** Throws InvalidRequestError (400) when the templated prompt is longer than allowed. */
  checkPromptTokens(promptTokens: number): void;
}

export function requestLimitsOf(limits: Pick<LimitsConfig, "maxPromptTokens" | "maxTokens">): RequestLimits {
  return {
    maxPromptTokens: limits.maxPromptTokens,
    maxTokens: limits.maxTokens,
    checkPromptTokens(promptTokens) {
      if (limits.maxPromptTokens !== null && promptTokens > limits.maxPromptTokens) {
        throw new InvalidRequestError(
          `The prompt has ${promptTokens} tokens; this gateway accepts at most ${limits.maxPromptTokens} prompt tokens.`,
          "messages",
          "prompt_too_long",
        );
      }
    },
  };
}

const TOKEN_FIELDS = ["max_tokens", "max_completion_tokens"] as const;

const limitsPlugin: FastifyPluginAsync<LimitsPluginOptions> = async (app, { limits, metrics }) => {
  const requestLimits = requestLimitsOf(limits);
  app.decorateRequest("limits", undefined);

  // Every route gets the body limit unless it sets its own (fastify answers 413 beyond it).
  app.addHook("onRoute", (route) => {
    route.bodyLimit ??= limits.bodyLimitBytes;
  });

  const openStreams = new Map<string, number>();

  // preValidation: the body is parsed but not yet schema-checked; only fields of the right type are
  // judged here, wrong types are left to the route's own validation.
  app.addHook("preValidation", async (request, reply) => {
    request.limits = requestLimits;
    const body = request.body;
    if (typeof body !== "object" || body === null || Array.isArray(body)) return;
    const fields = body as Record<string, unknown>;

    if (Array.isArray(fields.messages) && fields.messages.length > limits.maxMessages) {
      metrics?.observeRejection("limits");
      throw new InvalidRequestError(
        `Too many messages: ${fields.messages.length}; at most ${limits.maxMessages} are accepted.`,
        "messages",
        "too_many_messages",
      );
    }
    for (const field of TOKEN_FIELDS) {
      const value = fields[field];
      if (typeof value === "number" && value > limits.maxTokens) {
        metrics?.observeRejection("limits");
        throw new InvalidRequestError(
          `${field} is too large: ${value}. This gateway supports at most ${limits.maxTokens} completion tokens.`,
          field,
          "max_tokens_too_large",
        );
      }
    }

    const maxStreams = limits.maxConcurrentStreamsPerKey;
    if (fields.stream === true && maxStreams !== null) {
      const caller = callerOf(request);
      const open = openStreams.get(caller) ?? 0;
      if (open >= maxStreams) {
        metrics?.observeRejection("concurrent_streams");
        throw new OverloadedError(
          `Too many concurrent streams: this key already has ${open} open (limit ${maxStreams}).`,
          1000,
          "concurrent_streams_exceeded",
        );
      }
      openStreams.set(caller, open + 1);
      // 'close' fires exactly once per response, however it ends (done, error, client gone, hijacked).
      reply.raw.once("close", () => {
        const left = (openStreams.get(caller) ?? 1) - 1;
        if (left <= 0) openStreams.delete(caller);
        else openStreams.set(caller, left);
      });
    }
  });

  app.decorate("openStreamCount", (caller?: string) =>
    caller === undefined ? [...openStreams.values()].reduce((a, b) => a + b, 0) : (openStreams.get(caller) ?? 0),
  );
};

declare module "fastify" {
  interface FastifyInstance {
    /** Streams currently open for `caller` (`key:<id>` / `ip:<addr>`), or in total. */
    openStreamCount(caller?: string): number;
  }
}

/** Body size, message count, max_tokens, prompt tokens and concurrent streams per key. */
export default fp(limitsPlugin, { name: "prism-limits", fastify: "5.x", dependencies: ["prism-auth"] });

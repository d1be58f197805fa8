import fastifyRateLimit from "@fastify/rate-limit";
import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { AuthConfig } from "../../config/sections/auth.js";
import type { LimitsConfig } from "../../config/sections/limits.js";
import { OverloadedError } from "../../errors.js";
import type { GatewayMetrics } from "../../telemetry/metrics.js";
import { accessOf } from "./auth.js";
import { TokenBudget } from "./rate-limit-token-budget.js";

export interface RateLimitPluginOptions {
  readonly limits: Pick<LimitsConfig, "requestsPerMinute" | "tokensPerMinute">;
  readonly auth: Pick<AuthConfig, "publicPaths" | "adminPathPrefixes">;
  readonly metrics?: GatewayMetrics;
  /** Clock for the token budget (tests). */
  readonly now?: () => number;
}

/** Who is being limited: the API key's id, or the client address when auth is off. */
export function callerOf(request: FastifyRequest): string {
  return request.apiKey ? `key:${request.apiKey.id}` : `ip:${request.ip}`;
}

const rateLimitPlugin: FastifyPluginAsync<RateLimitPluginOptions> = async (app, options) => {
  const { limits, auth, metrics } = options;
  const isPublic = (request: FastifyRequest): boolean => accessOf(request, auth) === "public";

  const anyRequestLimit = limits.requestsPerMinute !== null;
  if (anyRequestLimit) {
    await app.register(fastifyRateLimit, {
      global: true,
      // Route-level onRequest hooks run after the app-level auth hook, so `apiKey` is known here.
      hook: "onRequest",
      timeWindow: 60_000,
      max: (request: FastifyRequest) => request.apiKey?.requestsPerMinute ?? limits.requestsPerMinute ?? 0,
      keyGenerator: callerOf,
      allowList: (request: FastifyRequest) => isPublic(request) || request.method === "OPTIONS",
      errorResponseBuilder: (_request, context) => {
        metrics?.observeRejection("rate_limit");
        return new OverloadedError(
          `Rate limit reached: ${context.max} requests per minute for this key. Retry in ${context.after}.`,
          context.ttl,
          "rate_limit_exceeded",
        );
      },
    });
  }

  const budget = new TokenBudget(options.now);
  app.addHook("preHandler", async (request) => {
    const limit = request.apiKey?.tokensPerMinute ?? limits.tokensPerMinute;
    if (limit === null || isPublic(request)) return;
    const caller = callerOf(request);
    try {
      budget.assertAvailable(caller, limit);
    } catch (error) {
      metrics?.observeRejection("token_budget");
      throw error;
    }
    request.telemetry?.onUsage((usage) => budget.charge(caller, usage.promptTokens + usage.completionTokens));
  });
};

/**
 * Per-caller request rate (@fastify/rate-limit) and token budget per minute; 429 + retry-after via
 * OverloadedError. Register after the auth and telemetry plugins and before the routes.
 */
export default fp(rateLimitPlugin, {
  name: "prism-rate-limit",
  fastify: "5.x",
  dependencies: ["prism-auth", "prism-telemetry"],
});

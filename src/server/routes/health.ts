import type { FastifyInstance } from "fastify";
import { type RouteContext, assertServing } from "../context.js";

/** 200 while serving; 503 `unavailable_error` while loading or draining (readiness and load balancers). */
export function registerHealth(app: FastifyInstance, ctx: RouteContext): void {
  const handler = async () => {
    assertServing(ctx);
    const stats = ctx.engine.stats();
    return { status: "ok", queue_depth: stats.queueDepth, active_sequences: stats.activeSequences };
  };
  app.get("/health", handler);
  app.get("/ready", handler);
}

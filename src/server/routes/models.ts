import type { FastifyInstance } from "fastify";
import type { RouteContext } from "../context.js";

export function registerModels(app: FastifyInstance, ctx: RouteContext): void {
  app.get("/v1/models", async () => ({ object: "list", data: ctx.catalog.list() }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", async (request) => ctx.catalog.get(request.params.id));
}

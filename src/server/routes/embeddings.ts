import type { FastifyInstance } from "fastify";
import { InvalidRequestError } from "../../errors.js";
import { type RouteContext, assertServing } from "../context.js";
import { abortOnDisconnect } from "../generation.js";
import { embeddingRequestSchema } from "../schemas/embeddings.js";
import { observeSpan } from "../plugins/operations.js";
import { SPAN } from "../../telemetry/request-telemetry.js";

export function registerEmbeddings(app: FastifyInstance, ctx: RouteContext): void {
  app.post("/v1/embeddings", async (request, reply) => {
    assertServing(ctx);
    const body = await observeSpan(request, SPAN.validation, () => embeddingRequestSchema.parse(request.body));
    ctx.catalog.get(body.model);
    const width = ctx.engine.modelInfo().embeddingSize;
    if (body.dimensions !== undefined && body.dimensions !== width) {
      throw new InvalidRequestError(`this model produces ${width}-dimensional embeddings`, "dimensions", "invalid_value");
    }
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    const abort = abortOnDisconnect(request, reply);
    const { embeddings, promptTokens } = await ctx.engine.embed(inputs, abort.signal);
    return {
      object: "list",
      model: body.model,
      data: embeddings.map((vector, index) => ({
        object: "embedding",
        index,
        embedding:
          body.encoding_format === "base64"
            ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64")
            : Array.from(vector),
      })),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
  });
}

/** `POST /v1/embeddings` request payload. */
import { z } from "zod";

export const embeddingRequestSchema = z.object({
  model: z.string().min(1),
  input: z.union([
    z.string().min(1, "input must not be empty"),
    z.array(z.string().min(1, "input strings must not be empty")).min(1).max(256),
  ]),
  encoding_format: z.enum(["float", "base64"]).default("float"),
  dimensions: z.number().int().positive().optional(),
  user: z.string().optional(),
});
export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;

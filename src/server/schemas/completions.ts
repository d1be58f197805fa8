/** `POST /v1/completions` request payload (legacy completions; a single prompt string). */
import { z } from "zod";
import { samplingFields } from "./chat.js";

export const completionRequestSchema = z.object({
  model: z.string().min(1),
  prompt: z.union([z.string(), z.array(z.string()).length(1, "only one prompt per request is supported")]),
  max_tokens: z.number().int().positive().nullish(),
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.literal(false, { message: "echo is not supported" }).nullish(),
  best_of: z.literal(1, { message: "only best_of=1 is supported" }).nullish(),
  suffix: z.null({ message: "suffix is not supported" }).optional(),
  ...samplingFields,
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

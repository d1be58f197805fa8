/** `POST /v1/chat/completions` request payload. Unknown fields are ignored (stripped), as OpenAI does. */
import { z } from "zod";

const textPart = z.object({ type: z.literal("text"), text: z.string() });
/** Message content: a string or an array of text parts (other part types are not supported by a text model). */
export const messageContentSchema = z.union([z.string(), z.array(textPart)]);

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal("function").default("function"),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

export const chatMessageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content: messageContentSchema, name: z.string().optional() }),
  z.object({ role: z.literal("developer"), content: messageContentSchema, name: z.string().optional() }),
  z.object({ role: z.literal("user"), content: messageContentSchema, name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: messageContentSchema.nullish(),
    name: z.string().optional(),
    tool_calls: z.array(toolCallSchema).optional(),
  }),
  z.object({ role: z.literal("tool"), content: messageContentSchema, tool_call_id: z.string() }),
]);

export const stopSchema = z.union([z.string(), z.array(z.string()).max(4)]).nullish();

const jsonSchemaObject = z.record(z.string(), z.unknown());

export const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().min(1).max(64),
      description: z.string().optional(),
      schema: jsonSchemaObject.optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

export const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "function names are 1-64 characters of a-z, A-Z, 0-9, _ and -"),
    description: z.string().optional(),
    parameters: jsonSchemaObject.optional(),
    strict: z.boolean().nullish(),
  }),
});

export const toolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
]);

/** Sampling fields shared with /v1/completions. */
export const samplingFields = {
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  seed: z.number().int().nullish(),
  stop: stopSchema,
  n: z.literal(1, { message: "only n=1 is supported" }).nullish(),
  user: z.string().optional(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
};

export const chatCompletionRequestSchema = z.object({
  model: z.string().min(1),
  messages: z.array(chatMessageSchema).min(1, "messages must contain at least one message"),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  response_format: responseFormatSchema.optional(),
  tools: z.array(toolSchema).optional(),
  tool_choice: toolChoiceSchema.optional(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  ...samplingFields,
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessagePayload = z.infer<typeof chatMessageSchema>;

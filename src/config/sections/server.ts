import { z } from "zod";

/** HTTP listener. The body size limit lives in `limits.bodyLimitBytes`. */
export const serverConfigSchema = z
  .object({
    host: z.string().min(1).default("0.0.0.0"),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Name clients use in `model` for routed requests; `<name>:base` and `<name>:<persona>` force a route. */
    servedModelName: z.string().regex(/^[A-Za-z0-9_.-]+$/).default("prism"),
    /** SSE `:` comment interval while a request waits for its first token. */
    keepAliveMs: z.number().int().positive().default(5000),
  })
  .strict();
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/**
 * The real gateway for e2e tests: a LlamaEngine on a real GGUF, buildApp listening on port 0 on loopback,
 * the official `openai` SDK pointed at it, and every response validated against openapi.yaml.
 */
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { loadConfig } from "../../src/config/load.js";
import type { PrismConfig, PrismConfigInput } from "../../src/config/schema.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { engineLoadOptions } from "../../src/engine/load-options.js";
import { buildApp } from "../../src/server/app.js";
import { OpenApiValidator } from "./openapi-validator.js";
import { TEST_THREADS } from "../helpers/llama.js";

export interface Gateway {
  readonly app: FastifyInstance;
  readonly engine: LlamaEngine;
  readonly config: PrismConfig;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** SDK client (no retries) whose fetch validates every response. */
  readonly client: OpenAI;
  readonly validator: OpenApiValidator;
  /** `fetch` with validation, for raw HTTP calls. */
  readonly fetch: OpenApiValidator["fetch"];
  close(): Promise<void>;
}

export async function startGateway(modelPath: string, overrides: PrismConfigInput = {}): Promise<Gateway> {
  const config = loadConfig({ env: {}, overrides: overrides as Record<string, unknown> });
  const engine = new LlamaEngine();
  await engine.load(engineLoadOptions(config, modelPath, { threads: TEST_THREADS, gpu: false }));
  const app = await buildApp({ config, engine });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const validator = new OpenApiValidator();
  const client = new OpenAI({ baseURL: `${origin}/v1`, apiKey: "unused", maxRetries: 0, fetch: validator.fetch });
  return {
    app,
    engine,
    config,
    origin,
    client,
    validator,
    fetch: validator.fetch,
    async close() {
      await app.close();
      await engine.dispose();
    },
  };
}

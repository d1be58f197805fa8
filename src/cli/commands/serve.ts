/**
 * `prism serve`: resolve the model, start listening at once (health 503 while loading), load the engine,
 * then serve. SIGTERM/SIGINT: health 503, new requests refused, in-flight ones drained (bounded), exit 0.
 */
import type { Command } from "commander";
import { loadConfig } from "../../config/load.js";
import { LlamaEngine } from "../../engine/llama-engine.js";
import { resolveModel } from "../../models/index.js";
import { buildApp } from "../../server/app.js";
import { loadApiKeys } from "../../server/plugins/auth-keys.js";
import { registerOperations } from "../../server/plugins/operations.js";
import { loggingServerOptions } from "../../telemetry/logging.js";
import { Telemetry } from "../../telemetry/telemetry.js";

interface ServeOptions {
  config?: string;
  model?: string;
  port?: number;
  host?: string;
  modelsDir: string;
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve the OpenAI-compatible gateway (default model, port 8080)")
    .option("-c, --config <file>", "JSON or YAML config file (also PRISM_CONFIG)")
    .option("-m, --model <spec>", "model: path, hf:<user>/<repo>/<file>, or 'default'")
    .option("-p, --port <port>", "listen port", (v) => Number(v))
    .option("--host <host>", "listen address")
    .option("--models-dir <dir>", "models directory", "models")
    .action(async (opts: ServeOptions) => {
      const overrides: Record<string, Record<string, unknown>> = {};
      if (opts.model) overrides.model = { spec: opts.model };
      if (opts.port !== undefined || opts.host) overrides.server = { ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.host ? { host: opts.host } : {}) };
      const config = loadConfig({ file: opts.config, overrides });
      // Bad key files fail here, before listening, with every problem listed.
      const keys = await loadApiKeys(config.auth, process.env);
      const telemetry = new Telemetry({ config: config.telemetry, env: process.env });
      const engine = new LlamaEngine();
      telemetry.attachEngine(engine);
      const app = await buildApp({
        config,
        engine,
        serverOptions: loggingServerOptions(config.telemetry),
        registerPlugins: (instance) => registerOperations(instance, { config, telemetry, keys }),
      });
      await app.listen({ port: config.server.port, host: config.server.host });
      const resolved = await resolveModel(config.model.spec, {
        modelsDir: opts.modelsDir,
        progress: process.stderr.isTTY,
        log: (line) => app.log.info(line),
      });
      const info = await engine.load({
        modelPath: resolved.path,
        threads: config.model.threads,
        contextSize: config.model.contextSize,
        sequencesPerContext: config.model.sequences,
        gpu: config.model.gpu,
        maxQueue: config.engine.maxQueue,
        queueTimeoutMs: config.engine.queueTimeoutMs,
      });
      app.log.info({ model: info.name, contextSize: info.contextSize }, "model loaded; serving");

      let stopping = false;
      const shutdown = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        app.log.info({ signal }, "draining");
        app.prismDrain();
        await engine.drain(config.engine.drainTimeoutMs);
        await app.close();
        await engine.dispose();
        await telemetry.shutdown();
        process.exit(0);
      };
      process.once("SIGTERM", () => void shutdown("SIGTERM"));
      process.once("SIGINT", () => void shutdown("SIGINT"));
    });
}

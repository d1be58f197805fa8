/**
 * `prism serve`: resolve the model, start listening at once (health 503 while loading), load the engine,
 * then the adapter packs and PRISM routing, then serve. SIGTERM/SIGINT: health 503, new requests refused,
 * in-flight ones drained (bounded), the adapters watcher and the A/B event store closed, exit 0.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { FastifyBaseLogger } from "fastify";
import { experimentsConfigSchema, loadExperimentsConfig, type ExperimentsConfig } from "../../ab/experiments.js";
import { AbArmMetrics } from "../../ab/metrics.js";
import { PgEventStore } from "../../ab/pg-store.js";
import { EventRecorder } from "../../ab/recorder.js";
import { SqliteEventStore } from "../../ab/sqlite-store.js";
import type { EventStore } from "../../ab/store.js";
import type { RegistryEvent } from "../../adapters/registry.js";
import { loadConfig } from "../../config/load.js";
import type { PrismConfig } from "../../config/schema.js";
import { planThreadpool, runWithThreadpoolSize, watchParent } from "../../engine/libuv-pool.js";
import { LlamaEngine } from "../../engine/llama-engine.js";
import { engineLoadOptions } from "../../engine/load-options.js";
import { ConfigError } from "../../errors.js";
import { resolveModel } from "../../models/index.js";
import { createPrismRouting, type PrismRouting } from "../../routing/stack.js";
import { buildApp } from "../../server/app.js";
import type { Lifecycle } from "../../server/context.js";
import { LateBound, lateBoundRouter } from "../../server/late-bound.js";
import { loadApiKeys } from "../../server/plugins/auth-keys.js";
import { registerOperations } from "../../server/plugins/operations.js";
import { registerAdminAdapterRoutes } from "../../server/routes/admin-adapters.js";
import { registerFeedbackRoutes } from "../../server/routes/feedback.js";
import { loggingServerOptions } from "../../telemetry/logging.js";
import { Telemetry } from "../../telemetry/telemetry.js";

interface ServeOptions {
  config?: string;
  model?: string;
  port?: number;
  host?: string;
  modelsDir: string;
}

const LOADING_ADAPTERS = "Loading adapters";
const MIGRATE_RETRY_MS = 5000;

/** Inline experiments plus those of `experiments.file`, validated together (unique names); null = none. */
export async function experimentsOf(section: PrismConfig["experiments"]): Promise<ExperimentsConfig | null> {
  const fromFile = section.file ? (await loadExperimentsConfig(section.file)).experiments : [];
  const merged = experimentsConfigSchema.safeParse({ experiments: [...section.experiments, ...fromFile] });
  if (!merged.success) throw new ConfigError(merged.error.issues.map((i) => `experiments: ${i.path.map(String).join(".") || "(root)"}: ${i.message}`));
  return merged.data.experiments.length > 0 ? merged.data : null;
}

interface AbRecording {
  readonly recorder: EventRecorder;
  close(): Promise<void>;
}

/**
 * Opens the A/B event store and its recorder. A database that is down at start does not stop serving:
 * events are buffered (bounded, drops counted and logged) and the schema migration is retried. A SQLite
 * file that cannot be opened (e.g. read-only folder) turns A/B recording off with an error log.
 */
async function openAbRecording(database: PrismConfig["database"], log: FastifyBaseLogger, metrics: AbArmMetrics): Promise<AbRecording | null> {
  const url = database.url || null;
  let store: EventStore;
  try {
    store = url ? new PgEventStore(url) : new SqliteEventStore(resolve(database.sqlitePath));
  } catch (error) {
    log.error({ err: error, sqlitePath: database.sqlitePath }, "A/B event store cannot be opened: A/B recording and feedback are OFF");
    return null;
  }
  let lastLostLog = 0;
  const recorder = new EventRecorder(store, {
    maxBuffered: database.eventBufferSize,
    flushIntervalMs: database.flushIntervalMs,
    metrics,
    onLost: () => {
      if (Date.now() - lastLostLog < 10_000) return;
      lastLostLog = Date.now();
      log.warn({ ...recorder.stats() }, "A/B event buffer full: oldest events dropped (counted in `lost`)");
    },
  });
  let retry: NodeJS.Timeout | undefined;
  const migrate = async (): Promise<void> => {
    try {
      await store.migrate();
      log.info({ store: store.kind }, "A/B event store ready");
    } catch (error) {
      log.error({ err: error, store: store.kind, retryInMs: MIGRATE_RETRY_MS }, "A/B event store unavailable: events are buffered, retrying");
      retry = setTimeout(() => void migrate(), MIGRATE_RETRY_MS).unref();
    }
  };
  await migrate();
  return {
    recorder,
    close: async () => {
      clearTimeout(retry);
      await recorder.close();
      const { pending, lost } = recorder.stats();
      if (pending > 0 || lost > 0) log.warn({ pending, lost }, "A/B events not written at shutdown");
      await store.close();
    },
  };
}

function logRegistryEvent(log: FastifyBaseLogger, event: RegistryEvent): void {
  if (event.type === "loaded") log.info({ adapter: event.name, replaced: event.replaced, ms: Math.round(event.ms) }, `adapter pack '${event.name}' loaded`);
  else if (event.type === "removed") log.info({ adapter: event.name }, `adapter pack '${event.name}' removed`);
  else log.error({ adapter: event.name, problems: event.problems }, `adapter pack '${event.name}' refused: ${event.problems.join("; ")}`);
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
      // The pool size must be set before libuv starts its pool, i.e. before this process started: re-run.
      const pool = planThreadpool(config.engine.threadpoolSize, process.env);
      if (pool.action === "reexec") process.exit(await runWithThreadpoolSize(pool.size));
      // Bad key files and experiments fail here, before listening, with every problem listed.
      const keys = await loadApiKeys(config.auth, process.env);
      const experiments = await experimentsOf(config.experiments);
      const adaptersDir = resolve(config.adapters.dir);
      const telemetry = new Telemetry({ config: config.telemetry, env: process.env });
      const engine = new LlamaEngine();
      telemetry.attachEngine(engine);

      // Routes exist before the model loads; what needs the model is bound once it is there (503 until then).
      const routing = new LateBound<PrismRouting>(LOADING_ADAPTERS);
      const lifecycle: Lifecycle = { draining: false, startup: LOADING_ADAPTERS };
      let ab: AbRecording | null = null;
      const app = await buildApp({
        config,
        engine,
        lifecycle,
        router: lateBoundRouter(() => routing.get().router),
        personas: () => routing.current?.personas() ?? [],
        serverOptions: loggingServerOptions(config.telemetry),
        registerPlugins: async (instance) => {
          await registerOperations(instance, { config, telemetry, keys });
          ab = await openAbRecording(config.database, instance.log, new AbArmMetrics(telemetry.metrics.registry));
          if (ab) registerFeedbackRoutes(instance, { recorder: ab.recorder, keyIdOf: (request) => request.apiKey?.id ?? null });
          // Without any API key the gateway is open; admin routes would be too, so they stay off.
          if (keys.enabled) registerAdminAdapterRoutes(instance, { registry: () => routing.get().registry, adaptersDir });
          else instance.log.warn("admin routes (/admin/adapters) are off: they need an admin API key (PRISM_ADMIN_KEYS or auth.keys with admin: true)");
        },
      });
      // Installed before the (slow) model load, so SIGTERM while loading also exits cleanly with 0.
      let stopping = false;
      const shutdown = async (signal: string): Promise<void> => {
        if (stopping) return;
        stopping = true;
        app.log.info({ signal }, "draining");
        app.prismDrain();
        await engine.drain(config.engine.drainTimeoutMs);
        await app.close();
        await routing.current?.close();
        await ab?.close();
        await engine.dispose();
        await telemetry.shutdown();
        process.exit(0);
      };
      process.once("SIGTERM", () => void shutdown("SIGTERM"));
      process.once("SIGINT", () => void shutdown("SIGINT"));
      watchParent(() => void shutdown("parent exited"));
      await app.listen({ port: config.server.port, host: config.server.host });
      app.log.info({ uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "default (4)", threadpool: pool.action === "run-here" ? pool.reason : "reexec" }, "libuv threadpool");
      const resolved = await resolveModel(config.model.spec, {
        modelsDir: opts.modelsDir,
        progress: process.stderr.isTTY,
        log: (line) => app.log.info(line),
      });
      const info = await engine.load(engineLoadOptions(config, resolved.path));
      app.log.info({ model: info.name, contextSize: info.contextSize, decodeAhead: info.decodeAhead }, "model loaded; loading adapter packs");

      const adaptersFolder = existsSync(adaptersDir) && statSync(adaptersDir).isDirectory();
      if (!adaptersFolder) app.log.warn({ adaptersDir }, "adapters folder not found: serving the base model only");
      const prism = await createPrismRouting({
        engine,
        modelPath: resolved.path,
        adaptersDir: adaptersFolder ? adaptersDir : null,
        servedName: config.server.servedModelName,
        experiments,
        onEvent: (event) => logRegistryEvent(app.log, event),
      });
      if (adaptersFolder && config.adapters.watch) {
        try {
          prism.registry.watch();
        } catch (error) {
          app.log.error({ err: error, adaptersDir }, "cannot watch the adapters folder: packs change only through the admin routes");
        }
      }
      routing.set(prism);
      // Logged before health turns 200, so whoever sees "ready" can already read what is served.
      app.log.info(
        { adapters: prism.personas(), refused: prism.refused.map((r) => r.pack), experiments: experiments?.experiments.map((e) => e.name) ?? [] },
        `serving ${prism.personas().length} adapter pack(s), ${prism.refused.length} refused`,
      );
      lifecycle.startup = null;

    });
}

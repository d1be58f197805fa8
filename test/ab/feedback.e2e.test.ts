/**
 * Feedback round-trip through the real gateway (tiny fixture model, fixture packs, A/B experiment),
 * driven by the official openai SDK, against SQLite and a real PostgreSQL: per-arm Prometheus metrics on
 * /metrics and `prism ab report` (a real CLI child on the same store) agree with what was sent; plus the
 * admin hot-swap routes.
 */
import { execFile } from "node:child_process";
import os from "node:os";
import { mkdtemp } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbArmMetrics } from "../../src/ab/metrics.js";
import { PgEventStore } from "../../src/ab/pg-store.js";
import { EventRecorder } from "../../src/ab/recorder.js";
import { armReports, type ArmReport } from "../../src/ab/report.js";
import { SqliteEventStore } from "../../src/ab/sqlite-store.js";
import type { EventStore } from "../../src/ab/store.js";
import { FIXTURE_APPLY_PROMPTS } from "../../src/adapters/fixture-pack.js";
import { loadConfig } from "../../src/config/load.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { createPrismRouting, type PrismRouting } from "../../src/routing/stack.js";
import { buildApp } from "../../src/server/app.js";
import { registerAdminAdapterRoutes } from "../../src/server/routes/admin-adapters.js";
import { loadApiKeys } from "../../src/server/plugins/auth-keys.js";
import { registerOperations } from "../../src/server/plugins/operations.js";
import { registerFeedbackRoutes } from "../../src/server/routes/feedback.js";
import { Telemetry } from "../../src/telemetry/telemetry.js";
import { fixturePaths } from "../helpers/paths.js";
import { copyOfFixturePacks } from "../routing/fixture-packs.js";
import { freshPgSchema, SKIP_PG } from "./pg.js";

const run = promisify(execFile);

/** A store, and the `prism ab report` arguments/environment that read the same one. */
interface Backend {
  readonly store: EventStore;
  readonly cliArgs: string[];
  readonly cliEnv: Record<string, string>;
}

const backends: { name: string; skip: boolean; open: () => Promise<Backend> }[] = [
  {
    name: "sqlite",
    skip: false,
    open: async () => {
      const dataDir = await mkdtemp(join(tmpdir(), "prism-fb-"));
      return { store: new SqliteEventStore(join(dataDir, "ab-events.sqlite")), cliArgs: ["--data-dir", dataDir], cliEnv: {} };
    },
  },
  {
    name: "postgres",
    skip: SKIP_PG,
    open: async () => {
      const url = await freshPgSchema("fb");
      return { store: new PgEventStore(url), cliArgs: [], cliEnv: { PRISM_DATABASE_URL: url } };
    },
  },
];

/** Value of one Prometheus sample, e.g. `prism_ab_requests_total{experiment="exp",arm="base"}`; 0 when absent. */
function sample(exposition: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf("}"));
    if (want.every((l) => labelText.split(",").includes(l)) && labelText.split(",").length === want.length) return Number(line.slice(line.indexOf("}") + 1));
  }
  return 0;
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`feedback round-trip (${backend.name})`, { timeout: 180_000 }, () => {
    const engine = new LlamaEngine();
    let routing: PrismRouting;
    let recorder: EventRecorder;
    let app: FastifyInstance;
    let client: OpenAI;
    let adaptersDir: string;
    let backendInfo: Backend;
    let baseUrl: string;

    beforeAll(async () => {
      const fx = fixturePaths();
      adaptersDir = (await copyOfFixturePacks()).adaptersDir;
      await engine.load({ modelPath: fx.modelPath, threads: os.availableParallelism(), contextSize: 256, sequencesPerContext: 2, gpu: false, maxQueue: 8, queueTimeoutMs: 30_000 });
      routing = await createPrismRouting({
        engine,
        modelPath: fx.modelPath,
        adaptersDir,
        servedName: "prism",
        experiments: { experiments: [{ name: "exp", enabled: true, coverage: 1, keys: [], arms: [{ name: "routed", target: "routed", weight: 1 }, { name: "base", target: "base", weight: 1 }] }] },
      });
      backendInfo = await backend.open();
      const store = backendInfo.store;
      await store.migrate();
      const config = loadConfig({ env: {}, overrides: { model: { contextSize: 256, sequences: 2 } } });
      const telemetry = new Telemetry({ config: config.telemetry, env: {} });
      recorder = new EventRecorder(store, { flushIntervalMs: 50, metrics: new AbArmMetrics(telemetry.metrics.registry) });
      const keys = await loadApiKeys(config.auth, {});
      app = await buildApp({
        config,
        engine,
        router: routing.router,
        personas: routing.personas,
        registerPlugins: async (a) => {
          await registerOperations(a, { config, telemetry, keys });
          registerFeedbackRoutes(a, { recorder });
          registerAdminAdapterRoutes(a, { registry: routing.registry, adaptersDir });
        },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    });
    afterAll(async () => {
      await app?.close();
      await recorder?.close();
      await recorder?.store.close();
      await routing?.close();
      await engine.dispose();
    });

    it("ties ratings to response ids, refuses unknown ids with 404 and bad bodies with 400", async () => {
      const ids: { id: string; arm: string }[] = [];
      for (let u = 0; u < 6; u++) {
        const { data, response } = await client.chat.completions
          .create({ model: "prism", messages: [{ role: "user", content: FIXTURE_APPLY_PROMPTS[u]! }], max_tokens: 2, temperature: 0, user: `u${u}` })
          .withResponse();
        ids.push({ id: data.id, arm: response.headers.get("x-prism-arm")! });
      }
      for (const { id, arm } of ids) {
        const ok = await client.post("/feedback", { body: { id, thumbs: arm === "routed" ? "up" : "down", comment: "from test" } });
        expect(ok).toMatchObject({ id, accepted: true });
      }
      await expect(client.post("/feedback", { body: { id: "chatcmpl-unknown", score: 1 } })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(client.post("/feedback", { body: { id: ids[0]!.id, score: 3 } })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      await expect(client.post("/feedback", { body: { id: ids[0]!.id } })).rejects.toBeInstanceOf(OpenAI.BadRequestError);

      await recorder.drain();
      const report = armReports(await recorder.store.aggregates("exp"));
      const total = report.reduce((a, r) => a + r.requests, 0);
      expect(total).toBe(6);
      for (const r of report) {
        expect(r.feedback).toBe(r.requests);
        expect(r.winRate.value).toBe(r.arm === "routed" ? 1 : 0);
        expect(r.completionTokensPerRequest).toBeGreaterThan(0);
      }
      expect(recorder.stats().lost).toBe(0);

      // The same per-arm figures, live on /metrics (this replica's counters).
      const exposition = await (await fetch(`${baseUrl}/metrics`)).text();
      const arms = new Map(report.map((r) => [r.arm, r]));
      expect(arms.size).toBeGreaterThan(0);
      for (const [arm, r] of arms) {
        const labels = { experiment: "exp", arm };
        expect(sample(exposition, "prism_ab_requests_total", labels)).toBe(r.requests);
        expect(sample(exposition, "prism_ab_request_duration_seconds_count", labels)).toBe(r.requests);
        expect(sample(exposition, "prism_ab_feedback_total", labels)).toBe(r.feedback);
        expect(sample(exposition, "prism_ab_feedback_wins_total", labels)).toBe(arm === "routed" ? r.feedback : 0);
        expect(sample(exposition, "prism_ab_feedback_score_sum", labels)).toBeCloseTo(r.meanScore.value! * r.feedback, 9);
        expect(sample(exposition, "prism_ab_tokens_total", { ...labels, kind: "completion" })).toBeCloseTo(r.completionTokensPerRequest! * r.requests, 6);
        expect(sample(exposition, "prism_ab_tokens_total", { ...labels, kind: "prompt" })).toBeCloseTo(r.promptTokensPerRequest! * r.requests, 6);
      }

      // `prism ab report`, a real CLI child on the same store: table, then one JSON line with the same arms.
      const { stdout } = await run("npx", ["tsx", "src/cli/main.ts", "ab", "report", "--experiment", "exp", ...backendInfo.cliArgs], {
        env: { ...process.env, PRISM_DATABASE_URL: "", ...backendInfo.cliEnv },
      });
      const lines = stdout.trim().split("\n");
      const json = JSON.parse(lines.at(-1)!) as { store: string; experiment: string; arms: ArmReport[] };
      expect(json).toMatchObject({ store: backend.name, experiment: "exp" });
      expect(json.arms).toEqual(report);
      expect(lines[0]).toMatch(/arm\s+requests\s+feedback\s+mean score \[95% CI\]\s+win-rate \[95% CI\]\s+latency ms\s+tokens in\/out/);
      for (const r of report) expect(lines.some((l) => new RegExp(`^exp\\s+${r.arm}\\s+${r.requests}\\s+${r.feedback}\\s`).test(l))).toBe(true);
    });

    it("hot-swaps packs through the admin routes, addressed by name only", async () => {
      const list = (await client.get("/../admin/adapters")) as { data: { name: string }[] };
      expect(list.data.map((p) => p.name)).toEqual(["helper", "writer"]);
      await client.delete("/../admin/adapters/writer");
      expect((await client.models.list()).data.map((m) => m.id)).not.toContain("prism:writer");
      await client.put("/../admin/adapters/writer");
      expect((await client.models.list()).data.map((m) => m.id)).toContain("prism:writer");
      await expect(client.put("/../admin/adapters/..%2F..%2Fetc")).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      await expect(client.put("/../admin/adapters/missing")).rejects.toBeInstanceOf(OpenAI.BadRequestError);
      await expect(client.delete("/../admin/adapters/missing")).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    });
  });
}

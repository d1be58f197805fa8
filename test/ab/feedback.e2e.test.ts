/**
 * Feedback round-trip through the real gateway (tiny fixture model, fixture packs, A/B experiment),
 * driven by the official openai SDK, against SQLite and a real PostgreSQL; plus the admin hot-swap routes.
 */
import os from "node:os";
import { mkdtemp } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgEventStore } from "../../src/ab/pg-store.js";
import { EventRecorder } from "../../src/ab/recorder.js";
import { armReports } from "../../src/ab/report.js";
import { SqliteEventStore } from "../../src/ab/sqlite-store.js";
import type { EventStore } from "../../src/ab/store.js";
import { FIXTURE_APPLY_PROMPTS } from "../../src/adapters/fixture-pack.js";
import { loadConfig } from "../../src/config/load.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { createPrismRouting, type PrismRouting } from "../../src/routing/stack.js";
import { buildApp } from "../../src/server/app.js";
import { registerAdminAdapterRoutes } from "../../src/server/routes/admin-adapters.js";
import { registerFeedbackRoutes } from "../../src/server/routes/feedback.js";
import { fixturePaths } from "../helpers/paths.js";
import { copyOfFixturePacks } from "../routing/fixture-packs.js";
import { freshPgSchema, SKIP_PG } from "./pg.js";

async function pgStore(): Promise<EventStore> {
  return new PgEventStore(await freshPgSchema("fb"));
}

const backends = [
  { name: "sqlite", skip: false, open: async () => new SqliteEventStore(join(await mkdtemp(join(tmpdir(), "prism-fb-")), "ab.sqlite")) },
  { name: "postgres", skip: SKIP_PG, open: pgStore },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`feedback round-trip (${backend.name})`, { timeout: 180_000 }, () => {
    const engine = new LlamaEngine();
    let routing: PrismRouting;
    let recorder: EventRecorder;
    let app: FastifyInstance;
    let client: OpenAI;
    let adaptersDir: string;

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
      const store = await backend.open();
      await store.migrate();
      recorder = new EventRecorder(store, { flushIntervalMs: 50 });
      const config = loadConfig({ env: {}, overrides: { model: { contextSize: 256, sequences: 2 } } });
      app = await buildApp({
        config,
        engine,
        router: routing.router,
        personas: routing.personas,
        registerPlugins: async (a) => {
          registerFeedbackRoutes(a, { recorder });
          registerAdminAdapterRoutes(a, { registry: routing.registry, adaptersDir });
        },
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      client = new OpenAI({ baseURL: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`, apiKey: "unused", maxRetries: 0 });
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

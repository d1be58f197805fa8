/**
 * The real `prism serve` CLI as a child process (what `npm start` runs), wired end to end: the tiny fixture
 * model, a private copy of the fixture packs plus a broken one, an SQLite A/B store in a temp dir, API keys
 * and an experiment scoped to one key, all from PRISM_* env. Driven with the official openai SDK.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_APPLY_PROMPTS, FIXTURE_RETAIN_PROMPTS } from "../../src/adapters/fixture-pack.js";
import { defaultKeyId } from "../../src/server/plugins/auth-keys.js";
import { startServeCli, type ServedCli } from "../helpers/serve-cli.js";
import { copyOfFixturePacks } from "../routing/fixture-packs.js";

const USER_KEY = "sk-user-0123456789abcdef";
const ADMIN_KEY = "sk-admin-0123456789abcdef";
const keyIdOf = (key: string): string => defaultKeyId(createHash("sha256").update(key, "utf8").digest());

interface PrismField {
  route: string;
  adapter: string | null;
  arm: string | null;
  experiment: string | null;
  reason: string;
}

/** Sum of a Prometheus counter's samples whose labels include every given pair. */
function counter(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

// Real processes and generation on a shared 2-core machine: generous timeouts.
describe("prism serve (CLI child process) with adapters, A/B store, feedback and admin routes", { timeout: 240_000 }, () => {
  let served: ServedCli;
  let user: OpenAI;
  let admin: OpenAI;
  let sqlitePath: string;

  beforeAll(async () => {
    const { adaptersDir } = await copyOfFixturePacks();
    await mkdir(join(adaptersDir, "broken"));
    await writeFile(join(adaptersDir, "broken", "manifest.json"), '{"schemaVersion": 1, "name": "broken"');
    sqlitePath = join(await mkdtemp(join(tmpdir(), "prism-serve-")), "db", "ab.sqlite");
    const experiment = {
      name: "admin-exp",
      keys: [keyIdOf(ADMIN_KEY)],
      arms: [
        { name: "treatment", target: "routed" },
        { name: "control", target: "base" },
      ],
    };
    served = await startServeCli({
      PRISM_ADAPTERS_DIR: adaptersDir,
      PRISM_DATABASE_SQLITE_PATH: sqlitePath,
      PRISM_DATABASE_FLUSH_INTERVAL_MS: "50",
      PRISM_API_KEYS: USER_KEY,
      PRISM_ADMIN_KEYS: ADMIN_KEY,
      PRISM_EXPERIMENTS_EXPERIMENTS: JSON.stringify([experiment]),
      PRISM_LIMITS_REQUESTS_PER_MINUTE: "null",
    });
    user = new OpenAI({ baseURL: `${served.origin}/v1`, apiKey: USER_KEY, maxRetries: 0 });
    admin = new OpenAI({ baseURL: `${served.origin}/v1`, apiKey: ADMIN_KEY, maxRetries: 0 });
  });
  afterAll(() => {
    if (served?.child.exitCode === null) served.child.kill("SIGKILL");
  });

  it("answers 503 unavailable_error while loading, then 200; logs the refused pack and keeps serving", () => {
    expect(served.healthSeen[0]).toEqual({ status: 503, type: "unavailable_error" });
    expect(served.healthSeen.at(-1)?.status).toBe(200);
    expect(served.output()).toMatch(/adapter pack 'broken' refused: manifest\.json is not valid JSON/);
    expect(served.output()).toMatch(/serving 2 adapter pack\(s\), 1 refused/);
  });

  it("lists the personas as models (not the refused pack)", async () => {
    const ids = (await user.models.list()).data.map((m) => m.id).sort();
    expect(ids).toEqual(["prism", "prism:base", "prism:helper", "prism:writer"]);
  });

  it("routes `prism` by the gate, honours `prism:<persona>`, and records streamed and non-streamed responses for feedback", async () => {
    const metricsBefore = await (await fetch(`${served.origin}/metrics`)).text();

    const routed = await user.chat.completions
      .create({ model: "prism", messages: [{ role: "user", content: FIXTURE_APPLY_PROMPTS[0]! }], max_tokens: 3, temperature: 0 })
      .withResponse();
    expect(routed.response.headers.get("x-prism-route")).toBe("writer");
    expect(Number(routed.response.headers.get("x-prism-gate-score"))).toBeGreaterThan(0.5);
    expect(routed.response.headers.get("x-prism-arm")).toBeNull(); // the experiment is scoped to the admin key
    expect((routed.data as unknown as { prism: PrismField }).prism).toMatchObject({ route: "writer", adapter: "writer", reason: "gate" });

    const knowledge = await user.chat.completions
      .create({ model: "prism", messages: [{ role: "user", content: FIXTURE_RETAIN_PROMPTS[0]! }], max_tokens: 3, temperature: 0 })
      .withResponse();
    expect(knowledge.response.headers.get("x-prism-route")).toBe("base");

    const forced = await user.chat.completions
      .create({ model: "prism:helper", messages: [{ role: "user", content: FIXTURE_RETAIN_PROMPTS[1]! }], max_tokens: 3, temperature: 0 })
      .withResponse();
    expect(forced.response.headers.get("x-prism-route")).toBe("helper");
    expect((forced.data as unknown as { prism: PrismField }).prism.reason).toBe("forced-model");

    // Streamed, with the admin key: the key-scoped experiment assigns an arm (keyId reaches the router).
    const stream = await admin.chat.completions
      .create({ model: "prism", messages: [{ role: "user", content: FIXTURE_APPLY_PROMPTS[1]! }], max_tokens: 4, temperature: 0, stream: true, user: "u-stream" })
      .withResponse();
    const streamArm = stream.response.headers.get("x-prism-arm");
    expect(["treatment", "control"]).toContain(streamArm);
    let streamedId = "";
    for await (const chunk of stream.data) streamedId = chunk.id;
    expect(streamedId).toMatch(/^chatcmpl-/);

    const completion = await user.completions.create({ model: "prism", prompt: FIXTURE_APPLY_PROMPTS[2]!, max_tokens: 2, temperature: 0, stream: true });
    let completionId = "";
    for await (const chunk of completion) completionId = chunk.id;
    expect(completionId).toMatch(/^cmpl-/);

    for (const id of [routed.data.id, streamedId, completionId]) {
      expect(await user.post("/feedback", { body: { id, thumbs: "up" } })).toEqual({ id, object: "feedback", accepted: true });
    }
    await expect(user.post("/feedback", { body: { id: "chatcmpl-never-served", score: 1 } })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(user.post("/feedback", { body: { id: streamedId, score: 2 } })).rejects.toBeInstanceOf(OpenAI.BadRequestError);

    const metricsAfter = await (await fetch(`${served.origin}/metrics`)).text();
    const chatOk = { route: "/v1/chat/completions", status: "200" };
    expect(counter(metricsAfter, "prism_requests_total", chatOk) - counter(metricsBefore, "prism_requests_total", chatOk)).toBe(4);
    expect(counter(metricsAfter, "prism_requests_total", { ...chatOk, arm: streamArm! })).toBeGreaterThanOrEqual(1);
    expect(counter(metricsAfter, "prism_generated_tokens_total", { adapter: "writer" })).toBeGreaterThan(counter(metricsBefore, "prism_generated_tokens_total", { adapter: "writer" }));
    expect(counter(metricsAfter, "prism_adapter_events_total", { adapter: "writer", event: "load", result: "success" })).toBe(1);
  });

  it("serves the admin adapter routes to the admin key only", async () => {
    const list = (await admin.get("/../admin/adapters")) as { data: { name: string }[]; refused: { name: string; problems: string[] }[] };
    expect(list.data.map((p) => p.name)).toEqual(["helper", "writer"]);
    expect(list.refused).toEqual([expect.objectContaining({ name: "broken", problems: [expect.stringMatching(/not valid JSON/)] })]);
    await expect(user.get("/../admin/adapters")).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(admin.put("/../admin/adapters/..%2Fetc")).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("drains on SIGTERM, exits 0 and leaves every event in the A/B store", async () => {
    served.child.kill("SIGTERM");
    expect(await served.exited).toBe(0);
    const db = new Database(sqlitePath, { readonly: true });
    try {
      const rows = db.prepare("SELECT id, experiment, arm, route, key_id, completion_tokens FROM prism_responses ORDER BY created_at").all() as {
        id: string;
        experiment: string | null;
        arm: string | null;
        route: string;
        key_id: string | null;
        completion_tokens: number;
      }[];
      expect(rows).toHaveLength(5);
      const streamed = rows.find((r) => r.experiment === "admin-exp");
      expect(streamed).toMatchObject({ key_id: keyIdOf(ADMIN_KEY) });
      expect(streamed!.completion_tokens).toBeGreaterThan(0);
      expect(rows.filter((r) => r.key_id === keyIdOf(USER_KEY))).toHaveLength(4);
      expect(rows.find((r) => r.id.startsWith("cmpl-"))?.route).toBe("writer");
      expect((db.prepare("SELECT COUNT(*) AS n FROM prism_feedback").get() as { n: number }).n).toBe(3);
    } finally {
      db.close();
    }
  });
});

describe("prism serve with an adapters folder holding only README.md (no packs)", { timeout: 120_000 }, () => {
  it("serves everything from the base model, no admin routes without keys, exits 0 on SIGTERM", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prism-serve-empty-"));
    await mkdir(join(dir, "adapters"));
    await writeFile(join(dir, "adapters", "README.md"), "# Adapter packs\n");
    // cwd = the temp dir: the defaults `adapters` and `data/ab-events.sqlite` resolve there, as for npm start.
    const served = await startServeCli({}, dir);
    try {
      expect(served.healthSeen.at(-1)?.status).toBe(200);
      const client = new OpenAI({ baseURL: `${served.origin}/v1`, apiKey: "unused", maxRetries: 0 });
      expect((await client.models.list()).data.map((m) => m.id).sort()).toEqual(["prism", "prism:base"]);
      const { data, response } = await client.chat.completions
        .create({ model: "prism", messages: [{ role: "user", content: FIXTURE_APPLY_PROMPTS[0]! }], max_tokens: 2 })
        .withResponse();
      expect(response.headers.get("x-prism-route")).toBe("base");
      expect((data as unknown as { prism: PrismField }).prism.reason).toBe("no-adapters");
      expect(await client.post("/feedback", { body: { id: data.id, score: 0.5 } })).toMatchObject({ accepted: true });
      expect((await fetch(`${served.origin}/admin/adapters`)).status).toBe(404);
      expect(served.output()).toMatch(/serving 0 adapter pack\(s\), 0 refused/);
    } finally {
      served.child.kill("SIGTERM");
    }
    expect(await served.exited).toBe(0);
  });
});

/**
 * PRISM routing through the real gateway: the tiny fixture model with the fixture packs (a LoRA pack
 * `writer` and a persona-prompt pack `helper`), a real server on port 0, the official openai SDK.
 */
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FIXTURE_APPLY_PROMPTS, FIXTURE_RETAIN_PROMPTS, type FixturePackPaths } from "../../src/adapters/fixture-pack.js";
import { loadConfig } from "../../src/config/load.js";
import { LlamaEngine } from "../../src/engine/llama-engine.js";
import { AdapterPackError } from "../../src/errors.js";
import { createPrismRouting, type PrismRouting } from "../../src/routing/stack.js";
import { buildApp } from "../../src/server/app.js";
import { fixturePaths } from "../helpers/paths.js";
import { copyOfFixturePacks } from "./fixture-packs.js";
import { TEST_THREADS } from "../helpers/llama.js";

interface PrismField {
  route: string;
  adapter: string | null;
  gate_score: number | null;
  intent: string;
  arm: string | null;
  reason: string;
}

async function serve(engine: LlamaEngine, routing: PrismRouting): Promise<{ app: FastifyInstance; client: OpenAI }> {
  const config = loadConfig({ env: {}, overrides: { model: { contextSize: 512, sequences: 2 }, engine: { maxQueue: 8 } } });
  const app = await buildApp({ config, engine, router: routing.router, personas: routing.personas });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const baseURL = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`;
  return { app, client: new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 }) };
}

// Real generation on a shared 2-core machine: allow for slow requests.
describe("PRISM routing through the gateway", { timeout: 180_000 }, () => {
  const engine = new LlamaEngine();
  let packs: FixturePackPaths;
  let routing: PrismRouting;
  let abRouting: PrismRouting;
  let app: FastifyInstance;
  let abApp: FastifyInstance;
  let client: OpenAI;
  let abClient: OpenAI;

  beforeAll(async () => {
    const fx = fixturePaths();
    packs = await copyOfFixturePacks();
    await engine.load({ modelPath: fx.modelPath, threads: TEST_THREADS, contextSize: 512, sequencesPerContext: 2, gpu: false, maxQueue: 8, queueTimeoutMs: 30_000 });
    routing = await createPrismRouting({ engine, modelPath: fx.modelPath, adaptersDir: packs.adaptersDir, servedName: "prism" });
    ({ app, client } = await serve(engine, routing));
    abRouting = await createPrismRouting({
      engine,
      modelPath: fx.modelPath,
      adaptersDir: packs.adaptersDir,
      servedName: "prism",
      experiments: { experiments: [{ name: "writer-vs-base", enabled: true, coverage: 1, keys: [], arms: [{ name: "treatment", target: "routed", weight: 1 }, { name: "control", target: "base", weight: 1 }] }] },
    });
    ({ app: abApp, client: abClient } = await serve(engine, abRouting));
  });
  afterAll(async () => {
    await app?.close();
    await abApp?.close();
    await routing?.close();
    await abRouting?.close();
    await engine.dispose();
  });

  async function chat(c: OpenAI, model: string, content: string, extra: { headers?: Record<string, string>; user?: string; maxTokens?: number } = {}) {
    const { data, response } = await c.chat.completions
      .create(
        { model, messages: [{ role: "user", content }], max_tokens: extra.maxTokens ?? 3, temperature: 0, ...(extra.user ? { user: extra.user } : {}) },
        { headers: extra.headers ?? {} },
      )
      .withResponse();
    const prism = (data as unknown as { prism: PrismField }).prism;
    // Headers and body must tell the same story.
    expect(response.headers.get("x-prism-route")).toBe(prism.route);
    expect(response.headers.get("x-prism-intent")).toBe(prism.intent);
    expect(response.headers.get("x-prism-arm")).toBe(prism.arm);
    return { prism, response, data };
  }

  it("serves both packs and lists them as models", async () => {
    expect(routing.refused).toEqual([]);
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["prism", "prism:base", "prism:writer", "prism:helper"]));
  });

  it("routes by the gate: writing requests to the writer LoRA, knowledge questions to base", async () => {
    for (const prompt of FIXTURE_APPLY_PROMPTS.slice(0, 4)) {
      const { prism, response } = await chat(client, "prism", prompt);
      expect(prism).toMatchObject({ route: "writer", adapter: "writer", reason: "gate", intent: "generative" });
      expect(Number(response.headers.get("x-prism-gate-score"))).toBeGreaterThan(0.5);
    }
    for (const prompt of FIXTURE_RETAIN_PROMPTS.slice(0, 4)) {
      const { prism } = await chat(client, "prism", prompt);
      expect(prism).toMatchObject({ route: "base", adapter: null, reason: "gate" });
      expect(prism.gate_score).toBeLessThan(0.5);
    }
  });

  it("honours forced models and the x-prism-route header", async () => {
    expect((await chat(client, "prism:base", FIXTURE_APPLY_PROMPTS[0]!)).prism).toMatchObject({ route: "base", reason: "forced-model", gate_score: null });
    expect((await chat(client, "prism:writer", FIXTURE_RETAIN_PROMPTS[0]!)).prism).toMatchObject({ route: "writer", adapter: "writer", reason: "forced-model" });
    // Persona-prompt pack: no adapter, the persona is injected as system prompt.
    expect((await chat(client, "prism:helper", FIXTURE_RETAIN_PROMPTS[0]!)).prism).toMatchObject({ route: "helper", adapter: null, reason: "forced-model" });
    const header = await chat(client, "prism", FIXTURE_RETAIN_PROMPTS[1]!, { headers: { "x-prism-route": "writer" } });
    expect(header.prism).toMatchObject({ route: "writer", reason: "header" });
    const base = await chat(client, "prism:writer", FIXTURE_APPLY_PROMPTS[1]!, { headers: { "x-prism-route": "base" } });
    expect(base.prism).toMatchObject({ route: "base", reason: "header" });
    expect((await chat(client, "prism", FIXTURE_APPLY_PROMPTS[2]!, { headers: { "x-prism-route": "auto" } })).prism.reason).toBe("gate");
  });

  it("serves every request on the route it reports: outputs match the forced route's greedy output", async () => {
    const prompt = FIXTURE_APPLY_PROMPTS[3]!;
    const text = async (c: OpenAI, model: string, extra: { headers?: Record<string, string>; user?: string } = {}) => {
      const { prism, data } = await chat(c, model, prompt, { ...extra, maxTokens: 12 });
      return { route: prism.route, content: data.choices[0]!.message.content };
    };
    const writer = await text(client, "prism:writer");
    const base = await text(client, "prism:base");
    // The LoRA changes greedy output, so equal text tells which weights really served a request.
    expect(writer.content).not.toBe(base.content);
    expect(await text(client, "prism")).toEqual({ route: "writer", content: writer.content }); // gate
    expect(await text(client, "prism", { headers: { "x-prism-route": "base" } })).toEqual(base); // header
    expect(await text(client, "prism:writer", { headers: { "x-prism-route": "base" } })).toEqual(base); // header beats model
    // A/B arms: the control arm really serves base, the treatment arm the gate's choice.
    const byArm = new Map<string, { route: string; content: string | null }>();
    for (let u = 0; byArm.size < 2 && u < 16; u++) {
      const { prism, data } = await chat(abClient, "prism", prompt, { user: `route-check-${u}`, maxTokens: 12 });
      byArm.set(prism.arm!, { route: prism.route, content: data.choices[0]!.message.content });
    }
    expect(byArm.get("control")).toEqual(base);
    expect(byArm.get("treatment")).toEqual({ route: "writer", content: writer.content });
  });

  it("refuses unknown personas with OpenAI-shaped 4xx errors", async () => {
    const badHeader = await client.chat.completions
      .create({ model: "prism", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }, { headers: { "x-prism-route": "nobody" } })
      .catch((e: unknown) => e);
    expect(badHeader).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badHeader as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("x-prism-route");
    const badModel = await client.chat.completions.create({ model: "prism:nobody", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }).catch((e: unknown) => e);
    expect(badModel).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("keeps the first turn's route for the rest of a conversation", async () => {
    const opening = FIXTURE_APPLY_PROMPTS[5]!;
    const first = await chat(client, "prism", opening);
    expect(first.prism.route).toBe("writer");
    const answer = first.data.choices[0]!.message.content ?? "";
    const followUp = await client.chat.completions
      .create({
        model: "prism",
        max_tokens: 3,
        temperature: 0,
        messages: [
          { role: "user", content: opening },
          { role: "assistant", content: answer },
          { role: "user", content: FIXTURE_RETAIN_PROMPTS[3]! }, // on its own this goes to base
        ],
      })
      .withResponse();
    expect(followUp.response.headers.get("x-prism-route")).toBe("writer");
    expect((followUp.data as unknown as { prism: PrismField }).prism.reason).toBe("conversation");

    // And the other way round: a knowledge chat stays on base even when the next turn asks for writing.
    const kq = FIXTURE_RETAIN_PROMPTS[6]!;
    expect((await chat(client, "prism", kq)).prism.route).toBe("base");
    const kFollow = await client.chat.completions
      .create({ model: "prism", max_tokens: 3, temperature: 0, messages: [{ role: "user", content: kq }, { role: "assistant", content: "ok" }, { role: "user", content: FIXTURE_APPLY_PROMPTS[0]! }] })
      .withResponse();
    expect(kFollow.response.headers.get("x-prism-route")).toBe("base");
  });

  it("assigns A/B arms stickily per user and routes by arm", async () => {
    const arms = new Map<string, string>();
    for (let u = 0; u < 8; u++) {
      const user = `user-${u}`;
      const { prism } = await chat(abClient, "prism", FIXTURE_APPLY_PROMPTS[u % 10]!, { user });
      expect(["treatment", "control"]).toContain(prism.arm);
      if (prism.arm === "control") expect(prism).toMatchObject({ route: "base", reason: "experiment" });
      else expect(prism).toMatchObject({ route: "writer", reason: "gate" });
      arms.set(user, prism.arm!);
    }
    // 8 users in a 50/50 split: both arms appear (the assignment is a fixed hash, so this is deterministic).
    expect(new Set(arms.values()).size).toBe(2);
    // Same user, other prompt, header-based user id: same arm.
    for (const [user, arm] of [...arms].slice(0, 2)) {
      const again = await chat(abClient, "prism", FIXTURE_APPLY_PROMPTS[12]!, { headers: { "x-prism-user": user } });
      expect(again.prism.arm).toBe(arm);
    }
  });

  it("hot-swaps packs under live streams: removed and replaced adapters finish in-flight streams", async () => {
    // What the stream must produce if the swap leaves it unharmed: the same greedy text, not cut, not switched.
    const reference = await client.chat.completions.create({
      model: "prism:writer",
      messages: [{ role: "user", content: FIXTURE_APPLY_PROMPTS[0]! }],
      max_tokens: 40,
      temperature: 0,
    });
    const stream = await client.chat.completions.create({
      model: "prism:writer",
      messages: [{ role: "user", content: FIXTURE_APPLY_PROMPTS[0]! }],
      max_tokens: 40,
      temperature: 0,
      stream: true,
    });
    let chunks = 0;
    let swapped = false;
    let finish: string | null = null;
    let streamed = "";
    for await (const chunk of stream) {
      chunks++;
      streamed += chunk.choices[0]?.delta.content ?? "";
      if (!swapped) {
        swapped = true;
        await routing.registry.load(packs.loraPackDir); // replace while streaming
        await routing.registry.remove("writer"); // and remove
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(["stop", "length"]).toContain(finish);
    expect(streamed).toBe(reference.choices[0]!.message.content);
    // New requests see the new set: writer is gone, the gate has only `helper` (never applies) → base.
    const gone = await client.chat.completions.create({ model: "prism:writer", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await chat(client, "prism", FIXTURE_APPLY_PROMPTS[7]!)).prism.route).toBe("base");
    await routing.registry.load(packs.loraPackDir);
    expect((await chat(client, "prism", FIXTURE_APPLY_PROMPTS[8]!)).prism.route).toBe("writer");
  });

  it("refuses bad packs with every problem listed while serving continues", async () => {
    const bad = join(packs.adaptersDir, "broken");
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, "gate.json"), "{not json");
    await writeFile(join(bad, "adapter.gguf"), "GGUF but not really");
    await symlink("/etc/hostname", join(bad, "persona.txt"));
    await writeFile(
      join(bad, "manifest.json"),
      JSON.stringify({
        schemaVersion: 1,
        name: "broken",
        mode: "lora",
        persona: { file: "persona.txt" },
        lora: { file: "adapter.gguf" },
        gate: { file: "gate.json" },
        baseModel: { architecture: "llama", embeddingLength: 999, blockCount: 2, vocabSize: 10, fingerprint: null },
      }),
    );
    const error = await routing.registry.load(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterPackError);
    const problems = (error as AdapterPackError).problems.join("\n");
    expect(problems).toMatch(/embedding length 999/);
    expect(problems).toMatch(/vocabulary 10/);
    expect(problems).toMatch(/persona.*outside the pack folder/);
    expect(problems).toMatch(/lora.*not a readable GGUF/);
    expect(problems).toMatch(/gate.*not valid JSON/);
    expect(routing.registry.refusals().map((r) => r.name)).toContain("broken");
    // Everything else keeps serving.
    expect((await chat(client, "prism", FIXTURE_APPLY_PROMPTS[9]!)).prism.route).toBe("writer");
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).not.toContain("prism:broken");
    await rm(bad, { recursive: true, force: true });
  });
});

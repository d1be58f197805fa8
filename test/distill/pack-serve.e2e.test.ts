/**
 * The PRISM workflow through the real CLI on the fixture model: `prism bootstrap` writes a pack (gate, distill
 * set, teacher signal, retain set), `prism distill` trains its LoRA into it (WebAssembly kernels, retain term
 * on), and `prism serve` (what `npm start` runs) loads the pack as a LoRA pack. Requests through the official
 * openai SDK: the forced persona model and a gate-routed `prism` request both run with the distilled adapter.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinPersonas } from "../../src/bootstrap/personas/load.js";
import { openGguf } from "../../src/gguf/index.js";
import { fixturePaths } from "../helpers/paths.js";
import { startServeCli } from "../helpers/serve-cli.js";

const PACK = "tiny-writer";
const root = new URL("../..", import.meta.url).pathname;
const run = promisify(execFile);
const prism = (args: string[], timeout: number) =>
  run(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: root, timeout, maxBuffer: 16 << 20 });

interface PrismField { route: string; adapter: string | null; reason: string }

let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "prism-pack-serve-"));
});
afterAll(async () => {
  if (child?.exitCode === null) child.kill("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

describe("prism bootstrap → prism distill → prism serve on the fixture model", { timeout: 600_000 }, () => {
  it("serves the distilled pack's LoRA for the forced persona and for gate-routed requests", async () => {
    const { modelPath } = fixturePaths();
    const personasDir = join(dir, "personas");
    await mkdir(personasDir);
    const personas = builtinPersonas().filter((p) => ["writing", "math", "safety_monitor"].includes(p.name));
    await writeFile(join(personasDir, "personas.json"), JSON.stringify(personas));
    const adaptersDir = join(dir, "adapters");
    const pack = join(adaptersDir, PACK);

    await prism(
      ["bootstrap", "--model", modelPath, "--out", pack, "--personas", personasDir, "--queries", "3", "--knowledge", "3",
        "--answer-tokens", "24", "--seed", "11", "--concurrency", "1", "--threads", "1",
        // Pair-level bias: with 9 pairs the run-level judge can leave the distill set empty; one sequence = deterministic.
        "--judge-bias", "pair"],
      300_000,
    );
    const bootstrapped = JSON.parse(await readFile(join(pack, "manifest.json"), "utf8"));
    expect(bootstrapped.mode).toBe("persona-prompt");
    const distillRows = (await readFile(join(pack, "distill.jsonl"), "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { query: string });
    const retainRows = (await readFile(join(pack, "retain.jsonl"), "utf8")).split("\n").filter(Boolean);
    expect(distillRows.length).toBeGreaterThan(0);
    expect(retainRows.length).toBeGreaterThan(0);

    const { stdout } = await prism(
      ["distill", "--pack", pack, "--model", modelPath, "--steps", "4", "--accumulation", "2", "--rank", "4", "--alpha", "8",
        "--lr", "0.01", "--kernels", "wasm", "--threads", "2", "--seed", "3", "--retain-weight", "0.5"],
      300_000,
    );
    expect(stdout).toMatch(/wrote .*lora\.gguf/);
    expect(stdout).toMatch(/retain samples: KL·T² to the base model \d+\.\d+ → \d+\.\d+/);
    const manifest = JSON.parse(await readFile(join(pack, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({ mode: "lora", lora: { file: "lora.gguf" }, gate: { file: "gate.json" } });
    expect(manifest.provenance.distill.retain.samples).toBeGreaterThan(0);
    const lora = await openGguf(join(pack, "lora.gguf"));
    expect(lora.metadata.string("general.type")).toBe("adapter");
    await lora.close();

    const served = await startServeCli({ PRISM_MODEL_CONTEXT_SIZE: "512", PRISM_ADAPTERS_DIR: adaptersDir, PRISM_LIMITS_REQUESTS_PER_MINUTE: "null" }, root);
    child = served.child;
    expect(served.output()).toMatch(/serving 1 adapter pack\(s\)/);
    const client = new OpenAI({ baseURL: `${served.origin}/v1`, apiKey: "unused", maxRetries: 0 });
    expect((await client.models.list()).data.map((m) => m.id)).toContain(`prism:${PACK}`);

    const forced = await client.chat.completions.create({
      model: `prism:${PACK}`, messages: [{ role: "user", content: distillRows[0]!.query }], max_tokens: 4, temperature: 0,
    });
    expect((forced as unknown as { prism: PrismField }).prism).toMatchObject({ route: PACK, adapter: PACK, reason: "forced-model" });

    // The gate was trained on these queries' features: at least one of the distill queries is routed to the pack.
    const routed: PrismField[] = [];
    for (const row of distillRows) {
      const r = await client.chat.completions.create({ model: "prism", messages: [{ role: "user", content: row.query }], max_tokens: 2, temperature: 0 });
      routed.push((r as unknown as { prism: PrismField }).prism);
    }
    expect(routed).toContainEqual(expect.objectContaining({ route: PACK, adapter: PACK, reason: "gate" }));

    const metrics = await (await fetch(`${served.origin}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`prism_adapter_events_total\\{[^}]*adapter="${PACK}"[^}]*event="load"[^}]*result="success"[^}]*\\} 1`));
    expect(metrics).toMatch(new RegExp(`prism_generated_tokens_total\\{[^}]*adapter="${PACK}"[^}]*\\} [1-9]`));

    child!.kill("SIGTERM");
    expect(await served.exited).toBe(0);
  });
});

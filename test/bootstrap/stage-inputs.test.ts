import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { GateFeatureExtractor } from "../../src/bootstrap/model.js";
import { bootstrapOptionsSchema } from "../../src/bootstrap/options.js";
import { BUILTIN_PERSONAS } from "../../src/bootstrap/personas/builtin.js";
import { KNOWLEDGE_SUBJECTS } from "../../src/bootstrap/prompts.js";
import { StageRunner } from "../../src/bootstrap/stage-runner.js";
import { featureInputFingerprint, queryItems, runFeatureStage, selectQueries, type KeptQuery } from "../../src/bootstrap/stages.js";
import type { FeatureSpec } from "../../src/gate/head-format.js";

/** A feature function that records what it was asked for: features are the text's character codes. */
function countingExtractor(spec: FeatureSpec, seen: string[]): GateFeatureExtractor {
  return {
    spec,
    extract: async (text) => {
      seen.push(text);
      return Float32Array.from({ length: spec.dim }, (_, i) => text.charCodeAt(i) || 0);
    },
  };
}

const kept = (key: string, text: string): KeptQuery => ({
  key, source: "s", kind: "persona", intent: "generative", style: null, subject: null, raw: { text, tokens: 1, finishReason: "stop" }, text,
});

describe("stage inputs on resume", () => {
  it("features are recomputed when the query text or the feature spec changed, or the record predates fingerprints", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prism-features-"));
    const mean: FeatureSpec = { kind: "token-embd", pooling: "mean", dim: 3 };
    const seen: string[] = [];
    await runFeatureStage(new StageRunner(dir, 0), countingExtractor(mean, seen), [kept("a", "alpha"), kept("b", "beta")], 1);
    expect(seen).toEqual(["alpha", "beta"]);

    seen.length = 0;
    const again = await runFeatureStage(new StageRunner(dir, 0), countingExtractor(mean, seen), [kept("a", "alpha"), kept("b", "beta!")], 1);
    expect(seen).toEqual(["beta!"]);
    expect(again.records.map((r) => r.value.input)).toEqual([featureInputFingerprint(mean, "alpha"), featureInputFingerprint(mean, "beta!")]);
    expect(again.records[1]!.value.features).toEqual([98, 101, 116]);

    seen.length = 0;
    const other: FeatureSpec = { kind: "token-embd", pooling: "max", dim: 3 };
    await runFeatureStage(new StageRunner(dir, 0), countingExtractor(other, seen), [kept("a", "alpha"), kept("b", "beta!")], 1);
    expect(seen).toEqual(["alpha", "beta!"]);

    // A record from before fingerprints (no `input`) is computed again.
    const old = join(dir, "old");
    await mkdir(old);
    await writeFile(join(old, "features.jsonl"), JSON.stringify({ key: "a", value: { features: [0, 0, 0] } }) + "\n");
    seen.length = 0;
    const upgraded = await runFeatureStage(new StageRunner(old, 0), countingExtractor(mean, seen), [kept("a", "alpha")], 1);
    expect(seen).toEqual(["alpha"]);
    expect(upgraded.records[0]!.value.features).toEqual([97, 108, 112]);
    expect((await readFile(join(old, "features.jsonl"), "utf8")).trim().split("\n")).toHaveLength(1);
  });

  it("contrast queries span academic and everyday subjects; a changed subject list changes the items' subjects", () => {
    expect(KNOWLEDGE_SUBJECTS).toContain("physics");
    expect(KNOWLEDGE_SUBJECTS).toContain("food and cooking");
    expect(new Set(KNOWLEDGE_SUBJECTS).size).toBe(KNOWLEDGE_SUBJECTS.length);
    const options = bootstrapOptionsSchema.parse({ queriesPerPersona: 1, knowledgeQueries: 3 * KNOWLEDGE_SUBJECTS.length });
    const subjects = queryItems(BUILTIN_PERSONAS.slice(0, 1), options).flatMap((i) => (i.input.subject ? [i.input.subject] : []));
    // Every subject gets each of the three styles once.
    expect(new Set(subjects)).toEqual(new Set(KNOWLEDGE_SUBJECTS));
    expect(subjects).toHaveLength(3 * KNOWLEDGE_SUBJECTS.length);
  });

  it("selection re-cleans stored generations, so runs from before a cleaning fix get the fixed text", () => {
    const raw = "Given this paragraph:\n\nOak trees drop acorns in autumn.\n\nQuestion: When do oaks drop acorns?";
    const record = { ...kept("knowledge/0001", "Given this paragraph:"), source: "knowledge", kind: "knowledge" as const, intent: "discriminative" as const, style: "passage", subject: "biology", raw: { text: raw, tokens: 20, finishReason: "stop" as const } };
    const { kept: out } = selectQueries([{ key: record.key, value: record }], bootstrapOptionsSchema.parse({}));
    expect(out[0]!.text).toBe(raw);
  });
});

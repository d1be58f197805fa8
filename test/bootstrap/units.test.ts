import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { filterQueries, jaccard, tokenSet } from "../../src/bootstrap/dedupe.js";
import { gateLabel, gateTarget, intentClass, intentTarget } from "../../src/bootstrap/labels.js";
import { BUILTIN_PERSONAS } from "../../src/bootstrap/personas/builtin.js";
import { loadPersonaDir, parseDomains } from "../../src/bootstrap/personas/load.js";
import { wordCount } from "../../src/bootstrap/personas/schema.js";
import { cleanQuery, parseVerdict } from "../../src/bootstrap/prompts.js";
import { decideOutcome, isLooping, isRunaway, judgedQueries, queryText, type KeptQuery } from "../../src/bootstrap/stages.js";
import { BootstrapError } from "../../src/errors.js";

describe("built-in personas", () => {
  it("has the 8 MT-Bench categories and 4 behavioural personas in three lengths", () => {
    expect(BUILTIN_PERSONAS.map((p) => p.name)).toEqual([
      "writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities",
      "critic", "safety_monitor", "helpful", "compliant",
    ]);
    for (const p of BUILTIN_PERSONAS) {
      expect(wordCount(p.long), `${p.name} long`).toBeGreaterThanOrEqual(150);
      expect(wordCount(p.long), `${p.name} long`).toBeLessThanOrEqual(180);
      expect(wordCount(p.medium), `${p.name} medium`).toBeGreaterThanOrEqual(50);
      expect(wordCount(p.medium), `${p.name} medium`).toBeLessThanOrEqual(60);
      expect(wordCount(p.short), `${p.name} short`).toBeGreaterThanOrEqual(4);
      expect(wordCount(p.short), `${p.name} short`).toBeLessThanOrEqual(7);
    }
    expect(BUILTIN_PERSONAS.find((p) => p.name === "safety_monitor")?.intent).toBe("safety");
  });
});

describe("persona files", () => {
  it("loads YAML and JSON, fills medium/short from the long form", async () => {
    const dir = await mkdtemp(join(tmpdir(), "personas-"));
    await writeFile(join(dir, "a.yaml"), "name: tax_law\nintent: generative\nlong: You are an expert in tax law. You explain rules precisely. You cite the relevant provisions.\n");
    await writeFile(join(dir, "b.json"), JSON.stringify([{ name: "poet", long: "You are a poet who writes vivid, musical verse about nature.", short: "You are a poet." }]));
    await writeFile(join(dir, "ignored.txt"), "not a persona");
    const personas = await loadPersonaDir(dir);
    expect(personas.map((p) => p.name)).toEqual(["tax_law", "poet"]);
    expect(personas[0]!.medium.length).toBeGreaterThan(0);
    expect(personas[1]!.intent).toBe("generative");
    expect(personas[1]!.short).toBe("You are a poet.");
  });

  it("lists every problem of every bad file at once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "personas-"));
    await writeFile(join(dir, "bad-name.yaml"), "name: Bad Name\nlong: You are an expert in many many things indeed.\n");
    await writeFile(join(dir, "bad-yaml.yaml"), "name: [unclosed\n");
    await writeFile(join(dir, "bad-intent.json"), JSON.stringify({ name: "x", intent: "creative", long: "You are an expert in many many things indeed." }));
    const err = await loadPersonaDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BootstrapError);
    const msg = (err as Error).message;
    expect(msg).toContain("bad-name.yaml: name");
    expect(msg).toContain("bad-yaml.yaml: not valid YAML");
    expect(msg).toContain("bad-intent.json: intent");
  });

  it("refuses duplicate names, empty and missing folders", async () => {
    const dir = await mkdtemp(join(tmpdir(), "personas-"));
    const long = "You are an expert in many many things indeed.";
    await writeFile(join(dir, "a.yaml"), `name: same\nlong: ${long}\n`);
    await writeFile(join(dir, "b.yaml"), `name: same\nlong: ${long}\n`);
    await expect(loadPersonaDir(dir)).rejects.toThrow(/appears twice/);
    const empty = join(dir, "empty");
    await mkdir(empty);
    await expect(loadPersonaDir(empty)).rejects.toThrow(/no .yaml/);
    await expect(loadPersonaDir(join(dir, "missing"))).rejects.toThrow(/cannot read folder/);
  });

  it("parses --domains into route-safe names", () => {
    expect(parseDomains(" Tax Law, marine biology ,,Café culture")).toEqual([
      { domain: "Tax Law", name: "tax_law" },
      { domain: "marine biology", name: "marine_biology" },
      { domain: "Café culture", name: "cafe_culture" },
    ]);
    expect(() => parseDomains(" , ")).toThrow(BootstrapError);
    expect(() => parseDomains("a b,a-b")).toThrow(/two domains/);
  });
});

describe("query filtering", () => {
  const items = [
    { key: "a/0", text: "Write a sonnet about the autumn rain falling on the city." },
    { key: "a/1", text: "short one" },
    { key: "a/2", text: "WRITE a sonnet about the autumn rain falling on the city!" },
    { key: "a/3", text: "Write a sonnet about the autumn rain falling on a city." },
    { key: "a/4", text: "Explain how a transistor amplifies a signal." },
    { key: "a/5", text: "   " },
  ];
  it("drops short, exact and near duplicates, keeps first occurrences", () => {
    const d = filterQueries(items, (i) => i.text, (i) => i.key, { minChars: 15, nearDuplicateJaccard: 0.8 });
    expect(d.map((x) => x.reason)).toEqual([null, "too-short", "duplicate", "near-duplicate", null, "empty"]);
    expect(d[2]!.duplicateOf).toBe("a/0");
    expect(d[3]!.duplicateOf).toBe("a/0");
  });
  it("Jaccard of token sets", () => {
    expect(jaccard(tokenSet("a b c"), tokenSet("a b d"))).toBeCloseTo(0.5);
    expect(jaccard(tokenSet(""), tokenSet(""))).toBe(1);
  });
});

describe("judge output", () => {
  it("parses A/B/TIE in the forms small models write", () => {
    expect(parseVerdict("A")).toBe("A");
    expect(parseVerdict(" b.")).toBe("B");
    expect(parseVerdict("[[A]]")).toBe("A");
    expect(parseVerdict("Answer B is better")).toBe("B");
    expect(parseVerdict("The better answer is: A")).toBe("A");
    expect(parseVerdict("Tie")).toBe("TIE");
    expect(parseVerdict("**TIE**")).toBe("TIE");
    expect(parseVerdict("")).toBeNull();
    expect(parseVerdict("Both answers are good")).toBeNull();
    expect(parseVerdict("Answering this requires")).toBeNull();
  });
  it("persona wins only when it wins both orders", () => {
    const v = (order: "persona-first" | "baseline-first", winner: "persona" | "baseline" | "tie" | null) => ({
      order, reply: "", verdict: null, winner,
    });
    expect(decideOutcome([v("persona-first", "persona"), v("baseline-first", "persona")])).toEqual({ set: "distill", reason: "persona-won-both" });
    expect(decideOutcome([v("persona-first", "persona"), v("baseline-first", "baseline")])).toEqual({ set: "retain", reason: "split" });
    expect(decideOutcome([v("persona-first", "tie"), v("baseline-first", "tie")])).toEqual({ set: "retain", reason: "tie" });
    expect(decideOutcome([v("persona-first", "baseline"), v("baseline-first", "baseline")])).toEqual({ set: "retain", reason: "baseline-won-both" });
    expect(decideOutcome([v("persona-first", "persona"), v("baseline-first", null)])).toEqual({ set: "retain", reason: "unparsable-verdict" });
  });
  it("cleans curator wrappers and spots runaway generations", () => {
    expect(cleanQuery('Request: "How do I write a cover letter?"')).toBe("How do I write a cover letter?");
    expect(cleanQuery("**User request:** Plan a trip")).toBe("Plan a trip");
    expect(cleanQuery("Plan a week-long trip to Kyoto for two.\n\nI'd be happy to help. I'd be happy to help.")).toBe("Plan a week-long trip to Kyoto for two.");
    expect(cleanQuery("Which gas do plants absorb?\nA. Oxygen\nB. Carbon dioxide")).toBe("Which gas do plants absorb?\nA. Oxygen\nB. Carbon dioxide");
    // Knowledge contrast queries keep their material (passage, list, options) and lose only a self-answer.
    const passage = "Given this paragraph:\n\nThe Nile flows north through Egypt into the Mediterranean.\n\nQuestion: Where does the Nile end?\n\nAnswer: In the Mediterranean.";
    expect(cleanQuery(passage)).toBe("Given this paragraph:");
    expect(cleanQuery(passage, { keepMaterial: true })).toBe(
      "Given this paragraph:\n\nThe Nile flows north through Egypt into the Mediterranean.\n\nQuestion: Where does the Nile end?",
    );
    expect(cleanQuery("Which is a fruit?\n\nA. Apple\nB. Brick\n**Correct answer:** A", { keepMaterial: true })).toBe("Which is a fruit?\n\nA. Apple\nB. Brick");
    expect(queryText("knowledge", "Classify each item:\n\n- oak\n- trout")).toBe("Classify each item:\n\n- oak\n- trout");
    expect(queryText("persona", "Write a poem about rain.\n\nI'd be happy to help!")).toBe("Write a poem about rain.");
    const loop = Array.from({ length: 40 }, () => "the cat sat").join(" ");
    expect(isRunaway({ text: loop, tokens: 120, finishReason: "length" })).toBe(true);
    expect(isRunaway({ text: loop, tokens: 120, finishReason: "stop" })).toBe(false);
    expect(isRunaway({ text: "Once upon a time", tokens: 4, finishReason: "cut" })).toBe(true);
  });

  it("spots an answer that has fallen into a loop, not prose or a templated list", () => {
    // SmolLM2's own answers from a bootstrap run: a story that ends in a loop, and one that does not.
    const story =
      "The team's flagship product was a virtual reality platform called EchoCo. They had created an immersive experience, " +
      "bringing the company's newest employee to life in a virtual world. People had been able to share their experiences " +
      "and share them with others. The team had set up a virtual reality exhibit, and it was now a success. The CEO was now " +
      "under the microscope, and she was under scrutiny. The CEO had to address the company's finances and its marketing strategy. ";
    const loop = Array.from({ length: 20 }, () => "She had to address the CEO's family.").join(" ");
    expect(isLooping(story)).toBe(false); // under 100 words: too early to tell
    expect(isLooping(story + story.replace(/The/g, "Then the"))).toBe(false);
    expect(isLooping(story + loop)).toBe(true);
    const list = Array.from({ length: 20 }, (_, i) => `${i + 1}. **Step ${i + 1}:** check item ${i * 7} against rule ${i % 5}.`).join("\n");
    expect(isLooping(list)).toBe(false);
  });
});

describe("gate labels", () => {
  const q = (kind: "persona" | "knowledge", intent: "generative" | "safety" | "discriminative"): KeptQuery => ({
    key: "k", source: "s", kind, intent, style: null, subject: null, raw: { text: "", tokens: 0, finishReason: "stop" }, text: "q",
  });
  const judged = (set: "distill" | "retain", reason: "persona-won-both" | "baseline-won-both" | "split") => ({
    persona: "s", query: "q", baseline: { text: "", tokens: 0, finishReason: "stop" as const }, withPersona: { text: "", tokens: 0, finishReason: "stop" as const }, verdicts: [], set, reason,
  });
  it("verdict = PRISM as published; combined adds intent and contrast", () => {
    expect(gateLabel(q("persona", "generative"), judged("retain", "split"), "verdict")).toBe("retain");
    expect(gateLabel(q("knowledge", "discriminative"), undefined, "verdict")).toBeNull();
    expect(gateLabel(q("knowledge", "discriminative"), undefined, "combined")).toBe("retain");
    expect(gateLabel(q("persona", "generative"), judged("retain", "split"), "combined")).toBe("apply");
    expect(gateLabel(q("persona", "safety"), judged("retain", "baseline-won-both"), "combined")).toBe("retain");
    expect(gateLabel(q("persona", "discriminative"), judged("distill", "persona-won-both"), "combined")).toBe("apply");
    expect(gateLabel(q("persona", "discriminative"), judged("retain", "split"), "intent")).toBe("retain");
  });
  it("outside the judging budget, combined falls back to the persona's intent and verdict skips the query", () => {
    expect(gateLabel(q("persona", "generative"), undefined, "combined")).toBe("apply");
    expect(gateLabel(q("persona", "discriminative"), undefined, "combined")).toBe("retain");
    expect(gateLabel(q("persona", "generative"), undefined, "verdict")).toBeNull();
  });
  it("combined trusts a verdict against the persona's intent only as far as verdictWeight says", () => {
    const lost = judged("retain", "baseline-won-both");
    const won = judged("distill", "persona-won-both");
    // A judge no better than chance (weight 0): the intent decides, fully.
    expect(gateTarget(q("persona", "generative"), lost, "combined", 0)).toEqual({ label: "apply", confidence: 1 });
    expect(gateTarget(q("persona", "discriminative"), won, "combined", 0)).toEqual({ label: "retain", confidence: 1 });
    // Partly reliable: a soft target between the two labels, on the side of the larger weight.
    expect(gateTarget(q("persona", "generative"), lost, "combined", 0.3)).toEqual({ label: "apply", confidence: 0.7 });
    expect(gateTarget(q("persona", "safety"), lost, "combined", 0.8)).toEqual({ label: "retain", confidence: 0.8 });
    expect(gateTarget(q("persona", "discriminative"), won, "combined", 0.9)).toEqual({ label: "apply", confidence: 0.9 });
    // A verdict that agrees with the intent, or says nothing (split), never lowers confidence.
    expect(gateTarget(q("persona", "generative"), won, "combined", 0)).toEqual({ label: "apply", confidence: 1 });
    expect(gateTarget(q("persona", "generative"), judged("retain", "split"), "combined", 0.9)).toEqual({ label: "apply", confidence: 1 });
    // Other schemes ignore the weight.
    expect(gateTarget(q("persona", "generative"), lost, "verdict", 0)).toEqual({ label: "retain", confidence: 1 });
    expect(gateTarget(q("persona", "discriminative"), won, "intent", 1)).toEqual({ label: "retain", confidence: 1 });
  });
  it("intent classes: keep-base is discriminative, apply is the query's intent; a soft target's rest goes to the other label's class", () => {
    expect(intentClass("retain", q("knowledge", "discriminative"))).toBe("discriminative");
    expect(intentClass("retain", q("persona", "generative"))).toBe("discriminative");
    expect(intentClass("apply", q("persona", "safety"))).toBe("safety");
    // A math query the judge promoted is trained as generative work.
    expect(intentClass("apply", q("persona", "discriminative"))).toBe("generative");
    expect(intentTarget({ label: "apply", confidence: 1 }, q("persona", "safety"))).toEqual({ label: "safety", confidence: 1 });
    expect(intentTarget({ label: "apply", confidence: 0.7 }, q("persona", "safety"))).toEqual({ label: "safety", confidence: 0.7, alternative: "discriminative" });
    expect(intentTarget({ label: "retain", confidence: 0.8 }, q("persona", "generative"))).toEqual({
      label: "discriminative",
      confidence: 0.8,
      alternative: "generative",
    });
  });
  it("--judged-per-persona judges the first N kept queries of each persona, never contrast queries", () => {
    const kept = ["a/0", "a/1", "a/2", "b/0", "b/3"].map((key) => ({ ...q("persona", "generative"), key, source: key.split("/")[0]! }));
    const all = [...kept, { ...q("knowledge", "discriminative"), key: "knowledge/0", source: "knowledge" }];
    expect(judgedQueries(all, 2).map((x) => x.key)).toEqual(["a/0", "a/1", "b/0", "b/3"]);
    expect(judgedQueries(all, null).map((x) => x.key)).toEqual(["a/0", "a/1", "a/2", "b/0", "b/3"]);
  });
});

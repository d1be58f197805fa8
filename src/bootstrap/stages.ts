/**
 * The bootstrap stages as StageRunner specs. Each stage turns a weak model's garbage (empty text,
 * runaway generations, judge replies that are not A/B/TIE) into recorded outcomes, never exceptions.
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { featureSpecKey } from "../gate/features.js";
import type { FeatureSpec } from "../gate/head-format.js";
import { filterQueries, type DropReason } from "./dedupe.js";
import { hasVerdictProbabilities, normaliseVerdictMass, outcomeOfWinners, VERDICT_SPELLINGS } from "./judge.js";
import type { BootstrapModel, GateFeatureExtractor, GenerateRequest } from "./model.js";
import type { BootstrapOptions } from "./options.js";
import { leadingSentences, personaSchema, type Persona } from "./personas/schema.js";
import {
  CURATOR_SYSTEM,
  cleanQuery,
  curatorPrompt,
  JUDGE_SYSTEM,
  judgePrompt,
  KNOWLEDGE_STYLES,
  KNOWLEDGE_SUBJECTS,
  parseVerdict,
  PERSONA_WRITER_SYSTEM,
  personaWriterPrompt,
  truncateForJudge,
} from "./prompts.js";
import {
  featureRecordSchema,
  judgedRecordSchema,
  queryRecordSchema,
  teacherRecordSchema,
  type Generation,
  type JudgedRecord,
  type QueryRecord,
  type VerdictRecord,
} from "./records.js";
import { deriveSeed, type StageContext, type StageResult, type StageRunner } from "./stage-runner.js";
import { writeTeacherFile } from "./teacher-format.js";

const pad = (i: number) => String(i).padStart(4, "0");

async function generation(
  model: BootstrapModel,
  system: string | null,
  user: string,
  temperature: number,
  maxTokens: number,
  ctx: StageContext,
  { keepTokenIds = false, responsePrefix, stopEarly }: Pick<GenerateRequest, "responsePrefix" | "stopEarly"> & { keepTokenIds?: boolean } = {},
): Promise<Generation> {
  const r = await model.generate({ system, user, temperature, maxTokens, seed: ctx.seed, signal: ctx.signal, responsePrefix, stopEarly });
  const g: Generation = { text: r.text.trim(), tokens: r.tokenCount, finishReason: r.finishReason };
  return keepTokenIds ? { ...g, tokenIds: [...r.tokens] } : g;
}

/** Share of distinct word trigrams among `words`' trigrams: near 1 for prose, near 0 for a loop. */
function distinctTrigramShare(words: readonly string[]): number {
  const grams = new Set<string>();
  for (let i = 0; i + 2 < words.length; i++) grams.add(`${words[i]} ${words[i + 1]} ${words[i + 2]}`);
  return grams.size / (words.length - 2);
}

const words = (text: string) => text.toLowerCase().split(/\s+/).filter(Boolean);

/**
 * A generation stopped for repeating itself, or cut off by the token limit while mostly repeating
 * itself (distinct word-trigram share < 0.5).
 */
export function isRunaway(g: Generation): boolean {
  if (g.finishReason === "cut") return true;
  if (g.finishReason !== "length") return false;
  const w = words(g.text);
  return w.length >= 30 && distinctTrigramShare(w) < 0.5;
}

/** Words in the window `isLooping` looks at: a loop of up to ~40 words shows within it. */
const LOOP_WINDOW_WORDS = 100;

/**
 * The answer's last 100 words are mostly a loop (distinct trigram share < 0.4; prose and even
 * templated lists stay above 0.8). Such answers end as runaways, so they are stopped there.
 */
export function isLooping(textSoFar: string): boolean {
  const w = words(textSoFar);
  return w.length >= LOOP_WINDOW_WORDS && distinctTrigramShare(w.slice(-LOOP_WINDOW_WORDS)) < 0.4;
}

// ---------------------------------------------------------------------------------------------
// Stage 0 (--domains): the model writes persona descriptions.

export async function runPersonaStage(
  runner: StageRunner,
  model: BootstrapModel,
  domains: readonly { domain: string; name: string }[],
  concurrency: number,
): Promise<Persona[]> {
  const result = await runner.run({
    name: "personas",
    items: domains.map((d) => ({ key: d.name, input: d })),
    schema: personaSchema,
    concurrency,
    run: async (d, ctx) => {
      const g = await generation(model, PERSONA_WRITER_SYSTEM, personaWriterPrompt(d.domain), 0.7, 320, ctx);
      // A weak model may return nothing useful: fall back to a plain description rather than fail.
      const text = g.text.length >= 40 ? g.text : `You are an expert in ${d.domain}. You answer questions about ${d.domain} accurately, clearly and helpfully.`;
      return personaSchema.parse({
        name: d.name,
        intent: "generative",
        long: text,
        medium: leadingSentences(text, 60),
        short: `You are an expert in ${d.domain}.`,
      });
    },
  });
  return result.records.map((r) => r.value);
}

// ---------------------------------------------------------------------------------------------
// Stage 1: queries.

interface QueryInput {
  readonly persona: Persona | null;
  /** Opening the curator's answer is primed with (null: unprimed). */
  readonly starter: string | null;
  readonly style: (typeof KNOWLEDGE_STYLES)[number]["name"] | null;
  readonly subject: string | null;
}

export function queryItems(personas: readonly Persona[], options: BootstrapOptions) {
  const items: { key: string; input: QueryInput }[] = [];
  for (const p of personas) {
    for (let i = 0; i < options.queriesPerPersona; i++) {
      const starter = p.starters.length > 0 ? p.starters[i % p.starters.length]! : null;
      items.push({ key: `${p.name}/${pad(i)}`, input: { persona: p, starter, style: null, subject: null } });
    }
  }
  const nKnowledge = options.knowledgeQueries ?? 3 * options.queriesPerPersona;
  for (let i = 0; i < nKnowledge; i++) {
    const style = KNOWLEDGE_STYLES[i % KNOWLEDGE_STYLES.length]!;
    const subject = KNOWLEDGE_SUBJECTS[Math.floor(i / KNOWLEDGE_STYLES.length) % KNOWLEDGE_SUBJECTS.length]!;
    const starter = style.starters[Math.floor(i / KNOWLEDGE_STYLES.length) % style.starters.length]!;
    items.push({ key: `knowledge/${pad(i)}`, input: { persona: null, starter, style: style.name, subject } });
  }
  return items;
}

/** The request in a curator generation: knowledge contrast queries keep their passage, list or options. */
export function queryText(kind: QueryRecord["kind"], raw: string): string {
  return cleanQuery(raw, { keepMaterial: kind === "knowledge" });
}

export function runQueryStage(
  runner: StageRunner,
  model: BootstrapModel,
  personas: readonly Persona[],
  options: BootstrapOptions,
  concurrency: number,
): Promise<StageResult<QueryRecord>> {
  return runner.run({
    name: "queries",
    items: queryItems(personas, options),
    schema: queryRecordSchema,
    concurrency,
    // A stored query asked for another style or subject (the contrast list changed), or primed with
    // another opening (the starters changed), is written again. The generation starts with its opening.
    isComplete: (record, input) =>
      record.style === input.style && record.subject === input.subject && (input.starter === null || record.raw.text.startsWith(input.starter)),
    run: async (input, ctx) => {
      const prompt = input.persona
        ? curatorPrompt(input.persona)
        : KNOWLEDGE_STYLES.find((s) => s.name === input.style)!.prompt(input.subject!);
      const raw = await generation(
        model, CURATOR_SYSTEM, prompt, options.queryTemperature, options.queryMaxTokens, ctx, { responsePrefix: input.starter ?? undefined },
      );
      return {
        source: input.persona?.name ?? "knowledge",
        kind: input.persona ? "persona" : "knowledge",
        intent: input.persona?.intent ?? "discriminative",
        style: input.style,
        subject: input.subject,
        raw,
        text: queryText(input.persona ? "persona" : "knowledge", raw.text),
      } satisfies QueryRecord;
    },
  });
}

export interface KeptQuery extends QueryRecord {
  readonly key: string;
}

export interface QueryFilterResult {
  readonly kept: KeptQuery[];
  readonly drops: { readonly key: string; readonly source: string; readonly reason: DropReason; readonly duplicateOf: string | null }[];
}

/** Drops runaway, short and (near-)duplicate queries, across all sources, in key order. */
export function selectQueries(records: StageResult<QueryRecord>["records"], options: BootstrapOptions): QueryFilterResult {
  const drops: QueryFilterResult["drops"][number][] = [];
  // Cleaned again from the raw generation, so a run written before a cleaning fix gets the fixed text.
  const recleaned = records.map((r) => ({ key: r.key, value: { ...r.value, text: queryText(r.value.kind, r.value.raw.text) } }));
  const candidates = recleaned.filter((r) => {
    if (isRunaway(r.value.raw)) {
      drops.push({ key: r.key, source: r.value.source, reason: "runaway", duplicateOf: null });
      return false;
    }
    return true;
  });
  const decisions = filterQueries(candidates, (r) => r.value.text, (r) => r.key, {
    minChars: options.minQueryChars,
    nearDuplicateJaccard: options.nearDuplicateJaccard,
  });
  const kept: KeptQuery[] = [];
  for (const d of decisions) {
    if (d.kept) kept.push({ key: d.item.key, ...d.item.value });
    else drops.push({ key: d.item.key, source: d.item.value.source, reason: d.reason!, duplicateOf: d.duplicateOf });
  }
  drops.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { kept, drops };
}

// ---------------------------------------------------------------------------------------------
// Stage 2: two answers + judge twice with positions swapped.

function winnerOf(verdict: "A" | "B" | "TIE" | null, order: VerdictRecord["order"]): VerdictRecord["winner"] {
  if (verdict === null) return null;
  if (verdict === "TIE") return "tie";
  const personaIsA = order === "persona-first";
  return (verdict === "A") === personaIsA ? "persona" : "baseline";
}

/** The published text rule: persona must be the parsed winner in both orders. */
export function decideOutcome(verdicts: readonly VerdictRecord[]): Pick<JudgedRecord, "set" | "reason"> {
  return outcomeOfWinners(verdicts.map((v) => v.winner));
}

/** The persona queries stage 2 answers and judges: all, or the first `perPersona` of each persona (key order). */
export function judgedQueries(queries: readonly KeptQuery[], perPersona: number | null): KeptQuery[] {
  const taken = new Map<string, number>();
  return queries.filter((q) => {
    if (q.kind !== "persona") return false;
    const n = taken.get(q.source) ?? 0;
    if (perPersona !== null && n >= perPersona) return false;
    taken.set(q.source, n + 1);
    return true;
  });
}

export function runJudgeStage(
  runner: StageRunner,
  model: BootstrapModel,
  personas: ReadonlyMap<string, Persona>,
  queries: readonly KeptQuery[],
  options: BootstrapOptions,
  concurrency: number,
): Promise<StageResult<JudgedRecord>> {
  return runner.run({
    name: "judged",
    items: judgedQueries(queries, options.judgedPerPersona).map((q) => ({ key: q.key, input: q })),
    schema: judgedRecordSchema,
    // Each record runs two generations at once, then two judgements at once.
    concurrency: Math.max(1, Math.ceil(concurrency / 2)),
    // Records from before the logit judge are judged again; their answers are kept.
    isComplete: hasVerdictProbabilities,
    run: async (q, ctx, previous) => {
      const persona = personas.get(q.source)!;
      const sub = (part: string): StageContext => ({ seed: deriveSeed(ctx.seed, part), signal: ctx.signal });
      const [baseline, withPersona] = previous
        ? [previous.baseline, previous.withPersona]
        : await Promise.all([
            generation(model, null, q.text, options.answerTemperature, options.answerMaxTokens, sub("baseline"), { stopEarly: isLooping }),
            generation(model, persona.long, q.text, options.answerTemperature, options.answerMaxTokens, sub("persona"), { keepTokenIds: true, stopEarly: isLooping }),
          ]);
      const base = { persona: q.source, query: q.text, baseline, withPersona };
      if (baseline.text === "" || withPersona.text === "") {
        return { ...base, verdicts: [], set: "retain", reason: "empty-answer" } satisfies JudgedRecord;
      }
      if (isRunaway(withPersona)) {
        return { ...base, verdicts: [], set: "retain", reason: "runaway-answer" } satisfies JudgedRecord;
      }
      const p = truncateForJudge(withPersona.text, options.judgeAnswerChars);
      const b = truncateForJudge(baseline.text, options.judgeAnswerChars);
      const orders = ["persona-first", "baseline-first"] as const;
      const verdicts = await Promise.all(
        orders.map(async (order): Promise<VerdictRecord> => {
          const [a, bb] = order === "persona-first" ? [p, b] : [b, p];
          const user = judgePrompt(q.text, a, bb);
          // One prompt evaluation serves both the greedy reply and the verdict probabilities.
          const reply = await model.generate({
            system: JUDGE_SYSTEM,
            user,
            temperature: 0,
            maxTokens: options.judgeMaxTokens,
            seed: sub(order).seed,
            replyStart: VERDICT_SPELLINGS,
            signal: ctx.signal,
          });
          const text = reply.text.trim();
          const verdict = parseVerdict(text);
          const probabilities = normaliseVerdictMass(reply.replyStartProbabilities ?? {});
          return { order, reply: text, verdict, winner: winnerOf(verdict, order), probabilities };
        }),
      );
      return { ...base, verdicts, ...decideOutcome(verdicts) } satisfies JudgedRecord;
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Stage 3: teacher top-k logits for distill samples.

export const teacherFileName = (key: string) => `${key.replace(/[^a-zA-Z0-9_-]/g, "__")}.prtk`;

export function runTeacherStage(
  runner: StageRunner,
  model: BootstrapModel,
  personas: ReadonlyMap<string, Persona>,
  distill: readonly { key: string; value: JudgedRecord }[],
  options: BootstrapOptions,
  concurrency: number,
) {
  const dir = join(runner.runDir, "teacher");
  return runner.run({
    name: "teacher",
    items: distill.map((d) => ({ key: d.key, input: d })),
    schema: teacherRecordSchema,
    concurrency,
    run: async ({ key, value }, ctx) => {
      await mkdir(dir, { recursive: true });
      const signal = await model.teacherTopK({
        system: personas.get(value.persona)!.long,
        user: value.query,
        response: value.withPersona.text,
        responseTokens: value.withPersona.tokenIds,
        topK: options.teacherTopK,
        signal: ctx.signal,
      });
      const file = join("teacher", teacherFileName(key));
      await writeTeacherFile(join(runner.runDir, file), {
        topK: options.teacherTopK,
        logitType: options.teacherLogits,
        records: [{ id: key, responseTokens: signal.responseTokens, topIds: signal.topIds, topLogits: signal.topLogits }],
      });
      return { file, tokens: signal.responseTokens.length };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Stage 4a: gate features for every kept query.

export function runFeatureStage(
  runner: StageRunner,
  extractor: GateFeatureExtractor,
  queries: readonly KeptQuery[],
  concurrency: number,
) {
  const fingerprint = (text: string) => featureInputFingerprint(extractor.spec, text);
  return runner.run({
    name: "features",
    items: queries.map((q) => ({ key: q.key, input: q.text })),
    schema: featureRecordSchema,
    concurrency,
    // Features of another text (re-cleaned query) or another feature spec are computed again.
    isComplete: (record, text) => record.input === fingerprint(text),
    run: async (text) => ({ features: Array.from(await extractor.extract(text)), input: fingerprint(text) }),
  });
}

/** What a feature record was computed from: the feature spec and the query text, hashed. */
export function featureInputFingerprint(spec: FeatureSpec, text: string): string {
  return createHash("sha256").update(`${featureSpecKey(spec)}\n${text}`).digest("hex").slice(0, 16);
}

/**
 * `prism bootstrap`: personas → queries → two answers + self-judge → teacher top-k → gate → pack.
 * Every stage is resumable (StageRunner) and seeded; the pack is written last, atomically per file.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { MANIFEST_FILE, packManifestSchema, type BaseModelSpec, type PackManifestInput } from "../adapters/manifest.js";
import { BootstrapError } from "../errors.js";
import { trainCrossFittedGate } from "../gate/ensemble.js";
import { trainGateHead, type GateSample, type TrainedGate } from "../gate/train.js";
import { judgeReliability, judgeRun } from "./judge.js";
import { gateTarget, intentTarget, type IntentClass } from "./labels.js";
import type { BootstrapModel, GateFeatureExtractor } from "./model.js";
import { bootstrapOptionsSchema, type BootstrapOptions, type BootstrapOptionsInput } from "./options.js";
import type { Persona } from "./personas/schema.js";
import type { JudgedRecord } from "./records.js";
import { buildReport, renderReportMarkdown, type BootstrapReport } from "./report.js";
import { StageRunner, silentProgress, writeFileAtomic, type StageMarker, type StageProgress } from "./stage-runner.js";
import {
  runFeatureStage,
  runJudgeStage,
  runPersonaStage,
  runQueryStage,
  runTeacherStage,
  selectQueries,
} from "./stages.js";
import { readTeacherFile, writeTeacherFile, type TeacherRecord } from "./teacher-format.js";

export type PersonaSource =
  | { readonly kind: "personas"; readonly personas: readonly Persona[] }
  | { readonly kind: "domains"; readonly domains: readonly { domain: string; name: string }[] };

export interface BootstrapDeps {
  readonly model: BootstrapModel;
  readonly features: GateFeatureExtractor;
  /** The served model's identity, for the pack manifest. */
  readonly baseModel: BaseModelSpec;
  readonly progress?: StageProgress;
  /** Aborting stops the run between records; a rerun continues from there. */
  readonly signal?: AbortSignal;
}

export interface BootstrapRunInput {
  /** Pack folder to write, e.g. `adapters/my-pack`; its name is the folder name. */
  readonly outDir: string;
  readonly packName: string;
  /** Stage files; default `<outDir>/run`. */
  readonly runDir?: string;
  readonly personas: PersonaSource;
  readonly options?: BootstrapOptionsInput;
}

export interface BootstrapResult {
  readonly report: BootstrapReport;
  readonly gate: TrainedGate;
  readonly runDir: string;
  readonly outDir: string;
}

function choosePackPersona(personas: readonly Persona[], judged: readonly JudgedRecord[], wanted: string | null): Persona {
  if (wanted !== null) {
    const p = personas.find((x) => x.name === wanted);
    if (!p) throw new BootstrapError(`--pack-persona '${wanted}' is not one of: ${personas.map((x) => x.name).join(", ")}`);
    return p;
  }
  const wins = new Map<string, number>();
  for (const j of judged) if (j.set === "distill") wins.set(j.persona, (wins.get(j.persona) ?? 0) + 1);
  const eligible = personas.filter((p) => p.intent !== "discriminative");
  const pool = eligible.length > 0 ? eligible : [...personas];
  return [...pool].sort((a, b) => (wins.get(b.name) ?? 0) - (wins.get(a.name) ?? 0) || a.name.localeCompare(b.name))[0]!;
}

export async function runBootstrap(deps: BootstrapDeps, input: BootstrapRunInput): Promise<BootstrapResult> {
  const options: BootstrapOptions = bootstrapOptionsSchema.parse(input.options ?? {});
  const runDir = input.runDir ?? join(input.outDir, "run");
  const signal = deps.signal ?? new AbortController().signal;
  const runner = new StageRunner(runDir, options.seed, deps.progress ?? silentProgress, signal);
  const parallel = Math.max(1, deps.model.parallelism);
  const markers: StageMarker[] = [];
  const t0 = performance.now();

  // 0. personas
  let personas: Persona[];
  if (input.personas.kind === "domains") {
    personas = await runPersonaStage(runner, deps.model, input.personas.domains, parallel);
  } else {
    personas = [...input.personas.personas];
  }
  if (personas.length === 0) throw new BootstrapError("no personas to bootstrap from");
  const personaByName = new Map(personas.map((p) => [p.name, p]));

  // 1. queries
  const queries = await runQueryStage(runner, deps.model, personas, options, parallel);
  markers.push(queries.marker);
  const selection = selectQueries(queries.records, options);
  await writeFileAtomic(join(runDir, "queries.kept.jsonl"), selection.kept.map((q) => JSON.stringify(q) + "\n").join(""));
  if (!selection.kept.some((q) => q.kind === "persona")) {
    throw new BootstrapError("every persona query was dropped (empty, too short or duplicate): nothing to judge");
  }

  // 2. answers + judge
  const judged = await runJudgeStage(runner, deps.model, personaByName, selection.kept, options, parallel);
  markers.push(judged.marker);
  // The logit judge needs the run-level position bias, so sets are decided once every pair is judged.
  const judgement = judgeRun(
    judged.records.map((r) => r.value),
    { mode: options.judge, margin: options.judgeMargin, bias: options.judgeBias },
  );
  const decided = judged.records.map((r, i) => ({ key: r.key, value: { ...r.value, ...judgement.chosen[i]! } }));
  const distill = decided.filter((r) => r.value.set === "distill");
  const retain = decided.filter((r) => r.value.set === "retain");

  // 3. teacher signal
  const teacher = await runTeacherStage(runner, deps.model, personaByName, distill, options, parallel);
  markers.push(teacher.marker);
  const teacherRecords: TeacherRecord[] = [];
  for (const t of teacher.records) teacherRecords.push(...(await readTeacherFile(join(runDir, t.value.file))).records);

  // 4. gate
  const features = await runFeatureStage(runner, deps.features, selection.kept, parallel);
  markers.push(features.marker);
  const judgedByKey = new Map(decided.map((r) => [r.key, r.value]));
  const reliability = judgeReliability(judged.records.map((r) => r.value), judgement.settings);
  const verdictWeight = options.verdictWeight === "reliability" ? reliability.kappa : options.verdictWeight;
  const featuresByKey = new Map(features.records.map((r) => [r.key, r.value.features]));
  const samples: (GateSample & { key: string; intent: { label: IntentClass; confidence: number; alternative?: IntentClass } })[] = [];
  for (const q of selection.kept) {
    const target = gateTarget(q, judgedByKey.get(q.key), options.labels, verdictWeight);
    if (target === null) continue;
    samples.push({ key: q.key, ...target, features: Float32Array.from(featuresByKey.get(q.key)!), intent: intentTarget(target, q) });
  }
  const labelCounts = { apply: samples.filter((s) => s.label === "apply").length, retain: samples.filter((s) => s.label === "retain").length };
  if (labelCounts.apply === 0 || labelCounts.retain === 0) {
    throw new BootstrapError(
      `gate training needs both labels, got apply=${labelCounts.apply} retain=${labelCounts.retain} ` +
        `(labels '${options.labels}'); raise --queries or use --labels combined`,
    );
  }
  const gateStart = performance.now();
  // Intent classes: only those with samples (user personas may have no safety persona); apply = all but discriminative.
  const intentClasses = ["discriminative", "generative", "safety"].filter((c) =>
    samples.some((s) => s.intent.label === c || s.intent.alternative === c),
  );
  const byIntent = options.gateClasses === "intent";
  const trainSamples: GateSample[] = byIntent ? samples.map((s) => ({ features: s.features, ...s.intent })) : samples;
  const gateOptions = {
    features: deps.features.spec,
    ...(byIntent ? { classes: intentClasses, applyClasses: intentClasses.filter((c) => c !== "discriminative") } : {}),
    architecture: options.gateArchitecture,
    hidden: options.gateHidden ?? (options.gateFolds > 1 ? 64 : 256),
    threshold: options.gateThreshold,
    seed: options.seed,
  };
  const gate: TrainedGate =
    options.gateFolds > 1
      ? trainCrossFittedGate(trainSamples, { ...gateOptions, folds: options.gateFolds })
      : trainGateHead(trainSamples, gateOptions);
  const gateMs = Math.round(performance.now() - gateStart);

  // 5. pack
  await mkdir(input.outDir, { recursive: true });
  const packPersona = choosePackPersona(personas, decided.map((r) => r.value), options.packPersona);
  const report = buildReport({
    packName: input.packName,
    options,
    baseModel: deps.baseModel,
    personas,
    queries: queries.records,
    selection,
    judged: judged.records,
    judgement,
    teacherTokens: teacherRecords.reduce((a, r) => a + r.responseTokens.length, 0),
    gate: gate.report,
    labelCounts,
    markers,
    gateMs,
    totalMs: Math.round(performance.now() - t0),
    packPersona: packPersona.name,
  });
  const provenance = {
    generator: "prism bootstrap",
    modelFingerprint: deps.model.fingerprint,
    baseModelFingerprint: deps.baseModel.fingerprint,
    seed: options.seed,
    options,
    counts: report.totals,
    verdicts: report.verdicts,
    judge: report.judge,
    gate: { labels: options.labels, classes: gate.file.classes, verdictWeight, judgeReliability: reliability, ...gate.report },
    personas: personas.map((p) => p.name),
  };
  const manifest: PackManifestInput = {
    schemaVersion: 1,
    name: input.packName,
    description:
      `Bootstrapped by PRISM from ${personas.length} persona(s). Persona-prompt mode: no LoRA has been distilled yet, ` +
      `so the gate decides whether the '${packPersona.name}' persona is injected as the system prompt.`,
    mode: "persona-prompt",
    persona: { file: "persona.txt", medium: packPersona.medium, short: packPersona.short },
    lora: null,
    intents: [...new Set(personas.filter((p) => p.intent !== "discriminative").map((p) => p.intent))],
    gate: { file: "gate.json", threshold: options.gateThreshold },
    baseModel: deps.baseModel,
    provenance,
  };
  const parsed = packManifestSchema.parse(manifest);
  const out = (f: string) => join(input.outDir, f);
  const jsonl = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r) + "\n").join("");
  await writeFileAtomic(out("persona.txt"), packPersona.long + "\n");
  await writeFileAtomic(out("personas.json"), JSON.stringify(personas, null, 2) + "\n");
  await writeFileAtomic(out("gate.json"), JSON.stringify(gate.file) + "\n");
  await writeFileAtomic(
    out("distill.jsonl"),
    jsonl(distill.map((d) => ({ id: d.key, persona: d.value.persona, query: d.value.query, response: d.value.withPersona.text }))),
  );
  await writeFileAtomic(
    out("retain.jsonl"),
    jsonl(retain.map((d) => ({ id: d.key, persona: d.value.persona, query: d.value.query, response: d.value.baseline.text, reason: d.value.reason }))),
  );
  await writeTeacherFile(out("teacher.prtk"), { topK: options.teacherTopK, logitType: options.teacherLogits, records: teacherRecords });
  await writeFileAtomic(out("provenance.json"), JSON.stringify(provenance, null, 2) + "\n");
  await writeFileAtomic(out("report.json"), JSON.stringify(report, null, 2) + "\n");
  await writeFileAtomic(out("report.md"), renderReportMarkdown(report));
  // Manifest last: a pack folder without one is visibly incomplete, never half-valid.
  await writeFileAtomic(out(MANIFEST_FILE), JSON.stringify(parsed, null, 2) + "\n");
  return { report, gate, runDir, outDir: input.outDir };
}

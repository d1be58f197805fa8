/**
 * `npm run bench`: runs the benchmark sections present in bench/ one after another (never in parallel: they
 * share 2 cores), each as its own process with `--json <file>`, then prints a summary table and writes every
 * section's JSON to reports/bench-<date>.json (atomically). A failed section is reported, the others still run.
 *
 *   npm run bench -- [--only gateway,routing] [--args 'gateway=--rounds 1 --tokens 16'] [--out reports/x.json]
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import writeFileAtomic from "write-file-atomic";

/** Known sections, in run order; each is `bench/<name>.ts` accepting `--json FILE`. */
const SECTIONS = ["gateway", "engine", "engine-steps", "engine-layers", "routing", "distill"] as const;

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    args: { type: "string", multiple: true, default: [] },
    out: { type: "string" },
  },
});

const present = SECTIONS.filter((name) => existsSync(join("bench", `${name}.ts`)));
const wanted = values.only ? values.only.split(",").map((s) => s.trim()) : present;
const unknown = wanted.filter((name) => !present.includes(name as (typeof SECTIONS)[number]));
if (unknown.length > 0) {
  console.error(`unknown or missing bench section(s): ${unknown.join(", ")} (present: ${present.join(", ")})`);
  process.exit(2);
}
const sectionArgs = new Map<string, string[]>();
for (const entry of values.args) {
  const at = entry.indexOf("=");
  if (at === -1) throw new Error(`--args expects 'section=--flag value ...', got '${entry}'`);
  sectionArgs.set(entry.slice(0, at), entry.slice(at + 1).split(/\s+/).filter(Boolean));
}

interface SectionResult {
  readonly section: string;
  readonly ok: boolean;
  readonly wallS: number;
  readonly exitCode: number | null;
  readonly result: unknown;
}

function runSection(name: string, jsonFile: string): Promise<number | null> {
  const child = spawn(process.execPath, ["--import", "tsx", join("bench", `${name}.ts`), "--json", jsonFile, ...(sectionArgs.get(name) ?? [])], {
    stdio: "inherit",
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

const scratch = await mkdtemp(join(tmpdir(), "prism-bench-"));
const results: SectionResult[] = [];
try {
  for (const name of wanted) {
    console.log(`\n=== bench section: ${name}`);
    const jsonFile = join(scratch, `${name}.json`);
    const started = performance.now();
    const exitCode = await runSection(name, jsonFile);
    const wallS = (performance.now() - started) / 1000;
    let result: unknown = null;
    if (existsSync(jsonFile)) result = JSON.parse(readFileSync(jsonFile, "utf8")) as unknown;
    results.push({ section: name, ok: exitCode === 0 && result !== null, wallS, exitCode, result });
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

const report = {
  createdAt: new Date().toISOString(),
  machine: { cpus: os.availableParallelism(), loadavg: os.loadavg(), node: process.version },
  note: "Numbers from whatever else runs on this machine: compare interleaved medians within one section only.",
  sections: results,
};
const out = values.out ?? join("reports", `bench-${report.createdAt.slice(0, 19).replace(/[:T]/g, "-")}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFileAtomic(out, JSON.stringify(report, null, 2));

console.log("\nbenchmark summary");
const nameWidth = Math.max("section".length, ...results.map((r) => r.section.length));
console.log(`${"section".padEnd(nameWidth)} status  wall s`);
for (const r of results) console.log(`${r.section.padEnd(nameWidth)} ${(r.ok ? "ok" : `FAIL(${r.exitCode})`).padEnd(7)} ${r.wallS.toFixed(1).padStart(6)}`);
console.log(`report: ${out}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);

/**
 * `npm run reliability`: the long versions of the reliability suites against live gateways, with figures
 * printed per suite and a JSON summary written to reports/reliability-<date>.json (atomically).
 *
 *   npm run reliability                       # all suites, 10-minute soak on SmolLM2-135M-Instruct
 *   npm run reliability -- --suites fuzz,soak --soak-minutes 2 --fuzz-cases 500
 *
 * fuzz runs on the tiny fixture model (thousands of cases need its speed); overload, disconnect and soak on
 * `--model` (default: SmolLM2). faults runs the fault and regression test files (real CLI, real tmpfs).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { Command } from "commander";
import writeFileAtomic from "write-file-atomic";
import { createFixtures, DEFAULT_FIXTURE_SEED, FIXTURE_STAMP_FILE, FIXTURES_VERSION, type FixturePaths } from "../src/fixtures/index.js";
import { resolveModel } from "../src/models/index.js";
import { runDisconnectStorm } from "./disconnect.js";
import { formatFigures, type SuiteFigures } from "./figures.js";
import { runFuzz } from "./fuzz.js";
import { reliabilityThreads, startGateway, type GatewayOptions } from "./gateway.js";
import { runOverload } from "./overload.js";
import { runSoak } from "./soak.js";

const SUITES = ["fuzz", "overload", "disconnect", "faults", "soak"] as const;
type Suite = (typeof SUITES)[number];

interface RunOptions {
  suites: string;
  model: string;
  soakMinutes: number;
  fuzzCases: number;
  seed: number;
  threads?: number;
  out: string;
}

async function fixtures(): Promise<FixturePaths> {
  const dir = resolve(".cache/fixtures");
  try {
    const stamp = JSON.parse(await readFile(join(dir, FIXTURE_STAMP_FILE), "utf8")) as FixturePaths;
    if (stamp.version === FIXTURES_VERSION && stamp.seed === DEFAULT_FIXTURE_SEED && stamp.dir === dir) return stamp;
  } catch {
    // not built yet
  }
  return createFixtures(dir, { seed: DEFAULT_FIXTURE_SEED });
}

/** Runs the fault + regression test files with vitest and reads their results. */
function runFaultTests(): SuiteFigures & { tests: { name: string; status: string }[] } {
  const started = Date.now();
  const outFile = join(os.tmpdir(), `prism-faults-${process.pid}.json`);
  spawnSync("npx", ["vitest", "run", "test/reliability/faults.test.ts", "test/reliability/regressions.test.ts", "--reporter=json", `--outputFile=${outFile}`], { stdio: "inherit" });
  let report: { testResults?: { assertionResults: { fullName: string; status: string }[] }[] } = {};
  try {
    report = JSON.parse(readFileSync(outFile, "utf8")) as typeof report;
  } catch {
    // vitest did not write a report: counted as a crash below
  } finally {
    rmSync(outFile, { force: true });
  }
  const tests = (report.testResults ?? []).flatMap((f) => f.assertionResults.map((a) => ({ name: a.fullName, status: a.status })));
  const byStatus: Record<string, number> = {};
  for (const t of tests) byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
  const failed = tests.filter((t) => t.status === "failed");
  return {
    suite: "faults",
    requests: tests.length,
    byStatus,
    failures: failed.length,
    crashes: tests.length === 0 ? 1 : 0,
    leaks: 0,
    rssBeforeMb: 0,
    rssAfterMb: 0,
    latencyMs: { p50: 0, p95: 0, max: 0 },
    durationS: Math.round((Date.now() - started) / 1000),
    notes: {},
    failureSamples: failed.map((t) => t.name).slice(0, 10),
    tests,
  };
}

async function main(options: RunOptions): Promise<number> {
  const suites = options.suites.split(",").map((s) => s.trim()) as Suite[];
  const unknown = suites.filter((s) => !SUITES.includes(s));
  if (unknown.length > 0) throw new Error(`unknown suite(s) ${unknown.join(", ")}; known: ${SUITES.join(", ")}`);
  const fixture = await fixtures();
  const modelPath =
    options.model === "fixture" ? fixture.modelPath : (await resolveModel(options.model, { modelsDir: resolve("models"), log: (l) => console.error(l) })).path;
  const threads = options.threads ?? reliabilityThreads();
  const onModel: GatewayOptions =
    options.model === "fixture"
      ? { modelPath, threads, adapters: [{ name: "fixture", path: fixture.loraPath }] }
      : { modelPath, threads };
  const persona = options.model === "fixture" ? "fixture" : undefined;
  const results: Record<string, unknown>[] = [];
  const report = (figures: SuiteFigures): void => {
    console.log(formatFigures(figures));
    results.push({ ...figures });
  };

  for (const suite of suites) {
    console.log(`\n▶ ${suite}`);
    if (suite === "fuzz") {
      const gateway = await startGateway({ modelPath: fixture.modelPath, adapters: [{ name: "fixture", path: fixture.loraPath }], threads, contextSize: 256, maxQueue: 16, apiKey: "reliability-key-0123456789" });
      try {
        let last = 0;
        report(
          await runFuzz({
            url: gateway.url,
            authHeaders: gateway.authHeaders,
            cases: options.fuzzCases,
            seed: options.seed,
            onProgress: (done, total) => {
              if (done - last >= total / 10) console.log(`  fuzz ${(last = done)}/${total}`);
            },
          }),
        );
      } finally {
        await gateway.close();
      }
    } else if (suite === "overload") {
      const gateway = await startGateway({ ...onModel, contextSize: 1024, sequences: 4, maxQueue: 8, queueTimeoutMs: 30_000 });
      try {
        report(await runOverload(gateway, { concurrency: 4 * 4 * 2, durationMs: 60_000, maxTokens: 32 }));
      } finally {
        await gateway.close();
      }
    } else if (suite === "disconnect") {
      const gateway = await startGateway({ ...onModel, contextSize: 4096, sequences: 4, maxQueue: 64 });
      try {
        report(await runDisconnectStorm(gateway, { clients: 48, waves: 10, seed: options.seed, longPromptWords: 400, ...(persona ? { persona } : {}), onWave: (w, n) => console.log(`  wave ${w}/${n}`) }));
      } finally {
        await gateway.close();
      }
    } else if (suite === "faults") {
      report(runFaultTests());
    } else {
      const gateway = await startGateway({ ...onModel, contextSize: 2048, sequences: 4, maxQueue: 16 });
      try {
        const soak = await runSoak(gateway, { durationMs: options.soakMinutes * 60_000, windows: 10, concurrency: 4, maxTokens: 48, ...(persona ? { persona } : {}), onWindow: (w, n, r) => console.log(`  soak window ${w}/${n}, ${r} requests`) });
        report(soak);
        console.log("   windows:", JSON.stringify(soak.windows));
      } finally {
        await gateway.close();
      }
    }
  }

  const date = new Date().toISOString().replace(/[:.]/g, "-");
  await mkdir(options.out, { recursive: true });
  const file = join(options.out, `reliability-${date}.json`);
  const load = os.loadavg();
  await writeFileAtomic(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: os.availableParallelism(), loadAverage1m: load[0], note: "shared, noisy 2-core machine unless stated otherwise" },
        options: { ...options, threads, modelPath },
        suites: results,
        passed: results.every((r) => r.failures === 0 && r.crashes === 0 && r.leaks === 0),
      },
      null,
      2,
    ),
  );
  console.log(`\nwrote ${file}`);
  return results.every((r) => r.failures === 0 && r.crashes === 0 && r.leaks === 0) ? 0 : 1;
}

const program = new Command("reliability")
  .description("long versions of the PRISM Gateway reliability suites")
  .option("--suites <list>", `comma-separated: ${SUITES.join(",")}`, SUITES.join(","))
  .option("--model <spec>", "model for overload/disconnect/soak: 'fixture', 'default' (SmolLM2) or a path", "default")
  .option("--soak-minutes <n>", "soak duration", Number, 10)
  .option("--fuzz-cases <n>", "fuzz cases", Number, 3000)
  .option("--seed <n>", "seed for generated cases", Number, 20261122)
  .option("--threads <n>", "compute threads (default PRISM_RELIABILITY_THREADS or the core count)", Number)
  .option("--out <dir>", "report folder", "reports")
  .action(async (options: RunOptions) => {
    process.exitCode = await main(options);
  });

await program.parseAsync();

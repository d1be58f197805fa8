/**
 * `prism ab report [--experiment X] [--data-dir D]`: per arm requests, feedback, mean score and win-rate
 * with 95% CIs, latency and tokens, from SQLite (default, `<data-dir>/ab-events.sqlite`) or PostgreSQL
 * (`PRISM_DATABASE_URL`). A table, then one JSON line.
 */
import type { Command } from "commander";
import { openEventStore } from "../../ab/open-store.js";
import { armReports, formatArmTable } from "../../ab/report.js";
import { commandGroup } from "../command-group.js";

export function register(program: Command): void {
  const ab = commandGroup(program, "ab", "A/B experiments");
  ab.command("report")
    .description("per-arm A/B results with 95% confidence intervals")
    .option("--experiment <name>", "only this experiment")
    .option("--data-dir <dir>", "where the SQLite event store lives", process.env.PRISM_DATA_DIR ?? "data")
    .action(async (opts: { experiment?: string; dataDir: string }) => {
      const store = await openEventStore({ databaseUrl: process.env.PRISM_DATABASE_URL, dataDir: opts.dataDir });
      try {
        const reports = armReports(await store.aggregates(opts.experiment));
        process.stdout.write(`${reports.length > 0 ? formatArmTable(reports) : "no experiment traffic recorded"}\n`);
        process.stdout.write(`${JSON.stringify({ store: store.kind, experiment: opts.experiment ?? null, arms: reports })}\n`);
      } finally {
        await store.close();
      }
    });
}

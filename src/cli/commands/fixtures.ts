import { InvalidArgumentError, type Command } from "commander";
import { createFixtures, DEFAULT_FIXTURE_SEED } from "../../fixtures/index.js";

function parseSeed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError("seed must be an integer in 0..4294967295");
  return n;
}

export function register(program: Command): void {
  program
    .command("fixtures")
    .description("write the deterministic tiny test model, its LoRA adapter and the fixture adapter pack")
    .requiredOption("--out <dir>", "output directory")
    .option("--seed <n>", "random seed", parseSeed, DEFAULT_FIXTURE_SEED)
    .action(async (opts: { out: string; seed: number }) => {
      const started = performance.now();
      const paths = await createFixtures(opts.out, { seed: opts.seed });
      process.stdout.write(`${JSON.stringify(paths, null, 2)}\n`);
      process.stderr.write(`fixtures written in ${Math.round(performance.now() - started)} ms\n`);
    });
}

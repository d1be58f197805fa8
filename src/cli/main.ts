#!/usr/bin/env node
/**
 * `prism` command line. This file only wires subcommands: each lives in `commands/<name>.ts` and exports
 * `register(program: Command): void`. To add one, import its `register` and append it to COMMANDS.
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { PrismError } from "../errors.js";
import { register as registerFixtures } from "./commands/fixtures.js";
import { register as registerPull } from "./commands/pull.js";
import { register as registerEval } from "./commands/eval.js";
import { register as registerDistill } from "./commands/distill.js";
import { register as registerImportPeft } from "./commands/adapters-import-peft.js";
import { register as registerServe } from "./commands/serve.js";
import { register as registerBootstrap } from "./commands/bootstrap.js";
import { register as registerAdapters } from "./commands/adapters.js";
import { register as registerGate } from "./commands/gate.js";
import { register as registerAb } from "./commands/ab.js";

type RegisterCommand = (program: Command) => void;

const COMMANDS: readonly RegisterCommand[] = [registerFixtures, registerPull, registerEval, registerDistill, registerServe, registerImportPeft, registerBootstrap, registerAdapters, registerGate, registerAb];

function packageVersion(): string {
  // src/cli/main.ts and dist/cli/main.js are both two levels below the package root.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}

export function buildProgram(): Command {
  const program = new Command("prism")
    .description("PRISM Gateway: OpenAI-compatible inference gateway with learned persona-adapter routing")
    .version(packageVersion())
    .showHelpAfterError();
  for (const register of COMMANDS) register(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((err: unknown) => {
    // Expected failures (bad file, unreachable model source...) print their message; anything else is a bug.
    if (err instanceof PrismError) process.stderr.write(`prism: ${err.message}\n`);
    else process.stderr.write(`prism: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    // Exit now: a failed command may leave handles open (`prism serve` listens before the model loads),
    // and an exit code alone would keep a broken server up forever (found by the reliability fault suite).
    process.exit(1);
  });
}

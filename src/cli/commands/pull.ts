import type { Command } from "commander";
import { DEFAULT_MODEL_ID, resolveModel } from "../../models/index.js";

export function register(program: Command): void {
  program
    .command("pull")
    .description(`fetch a model into the models directory: '${DEFAULT_MODEL_ID}' (SmolLM2-135M-Instruct), hf:<user>/<repo>/<file>, or a path to check`)
    .argument("[model]", "model spec", DEFAULT_MODEL_ID)
    .option("--models-dir <dir>", "models directory", "models")
    .option("--hf-timeout <ms>", "give up on Hugging Face after this many ms", (v) => Number(v), 15_000)
    .action(async (model: string, opts: { modelsDir: string; hfTimeout: number }) => {
      const resolved = await resolveModel(model, {
        modelsDir: opts.modelsDir,
        huggingFaceTimeoutMs: opts.hfTimeout,
        progress: process.stderr.isTTY,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`${resolved.path}\n`);
      process.stderr.write(`model ready (${resolved.source})\n`);
    });
}

/**
 * `prism adapters import-peft DIR [--model M] [--out FILE] [--f16]`: converts a PEFT LoRA trained elsewhere
 * into a GGUF LoRA for the served model. Exposed as `addImportPeftCommand(adapters)` so the `adapters` command
 * group (src/cli/commands/adapters.ts) can attach it; `register` creates the group when it does not exist yet.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { importPeftAdapter } from "../../distill/peft/import-peft.js";
import { DistillError } from "../../errors.js";

const DEFAULT_MODEL_PATH = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

export function addImportPeftCommand(adapters: Command): void {
  adapters
    .command("import-peft")
    .description("convert a PEFT LoRA (adapter_config.json + adapter_model.safetensors) into a GGUF LoRA for the served model")
    .argument("<dir>", "PEFT adapter folder")
    .option("--model <path>", `served GGUF model the adapter is for ('default' = ${DEFAULT_MODEL_PATH})`, "default")
    .option("--out <file>", "output GGUF (default: <dir>/adapter.gguf)")
    .option("--name <name>", "general.name of the adapter")
    .option("--f16", "store tensors as F16 (default F32)")
    .action(async (dir: string, opts: { model: string; out?: string; name?: string; f16?: boolean }) => {
      const modelPath = resolve(opts.model === "default" ? DEFAULT_MODEL_PATH : opts.model);
      if (!existsSync(modelPath)) throw new DistillError(`--model ${opts.model}: no such file (${modelPath})`);
      const result = await importPeftAdapter({
        dir: resolve(dir),
        modelPath,
        outPath: resolve(opts.out ?? join(dir, "adapter.gguf")),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        type: opts.f16 ? "f16" : "f32",
      });
      process.stdout.write(
        `wrote ${result.outPath}: rank ${result.rank}, alpha ${result.alpha}, ${result.pairs} adapted projections ` +
          `(${result.modules.join(", ")}) in layers ${result.layers.join(",")}\n`,
      );
    });
}

export function register(program: Command): void {
  const adapters = program.commands.find((c) => c.name() === "adapters") ?? program.command("adapters").description("adapter packs");
  addImportPeftCommand(adapters);
}

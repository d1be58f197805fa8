/**
 * `prism adapters import-peft DIR [--model M] [--out FILE] [--f16]`: converts a PEFT LoRA trained elsewhere
 * into a GGUF LoRA for the served model. Exposed as `addImportPeftCommand(adapters)` so the `adapters` command
 * group (src/cli/commands/adapters.ts) can attach it; `register` creates the group when it does not exist yet.
 */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { importPeftAdapter } from "../../distill/peft/import-peft.js";
import { commandGroup } from "../command-group.js";
import { MODEL_FLAGS, MODEL_HELP, resolveModelPath } from "../options.js";

export function addImportPeftCommand(adapters: Command): void {
  adapters
    .command("import-peft")
    .description("convert a PEFT LoRA (adapter_config.json + adapter_model.safetensors) into a GGUF LoRA for the served model")
    .argument("<dir>", "PEFT adapter folder")
    .option(MODEL_FLAGS, MODEL_HELP, "default")
    .option("--out <file>", "output GGUF (default: <dir>/adapter.gguf)")
    .option("--name <name>", "general.name of the adapter")
    .option("--f16", "store tensors as F16 (default F32)")
    .action(async (dir: string, opts: { model: string; out?: string; name?: string; f16?: boolean }) => {
      const modelPath = await resolveModelPath(opts.model);
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
  const adapters = commandGroup(program, "adapters", "adapter packs");
  addImportPeftCommand(adapters);
}

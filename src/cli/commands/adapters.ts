/**
 * `prism adapters validate [DIR] [--model M]`: checks one pack folder (DIR holds manifest.json) or every
 * pack under DIR (default `adapters/`) against the model, listing every problem. Exit code 1 when any pack
 * is refused. The last line printed is one JSON object.
 */
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { MANIFEST_FILE } from "../../adapters/manifest.js";
import { loadAdapterPack } from "../../adapters/pack.js";
import { describeServedModel } from "../../adapters/served-model.js";
import { AdapterPackError } from "../../errors.js";
import { commandGroup } from "../command-group.js";
import { MODEL_FLAGS, MODEL_HELP, resolveModelPath } from "../options.js";

export async function packFolders(dir: string): Promise<string[]> {
  if (existsSync(join(dir, MANIFEST_FILE))) return [dir];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).map((e) => join(dir, e.name)).sort();
}

export function register(program: Command): void {
  const adapters = commandGroup(program, "adapters", "adapter packs");
  adapters
    .command("validate")
    .description("validate adapter packs against the served model (every problem listed)")
    .argument("[dir]", "a pack folder or a folder of packs", "adapters")
    .option(MODEL_FLAGS, MODEL_HELP, "default")
    .action(async (dir: string, opts: { model: string }) => {
      const served = await describeServedModel(await resolveModelPath(opts.model));
      const results: { pack: string; ok: boolean; name?: string; mode?: string; problems?: readonly string[] }[] = [];
      for (const folder of await packFolders(resolve(dir))) {
        try {
          const pack = await loadAdapterPack(folder, served);
          results.push({ pack: folder, ok: true, name: pack.name, mode: pack.manifest.mode });
          process.stdout.write(`OK       ${pack.name} (${pack.manifest.mode}, gate ${pack.gate.features.kind}, threshold ${pack.threshold})\n`);
        } catch (error) {
          if (!(error instanceof AdapterPackError)) throw error;
          results.push({ pack: folder, ok: false, name: error.pack, problems: error.problems });
          process.stdout.write(`REFUSED  ${error.pack} (${folder})\n${error.problems.map((p) => `         - ${p}\n`).join("")}`);
        }
      }
      const refused = results.filter((r) => !r.ok).length;
      process.stdout.write(`${JSON.stringify({ model: opts.model, packs: results.length, ok: results.length - refused, refused, results })}\n`);
      if (refused > 0) process.exitCode = 1;
    });
}

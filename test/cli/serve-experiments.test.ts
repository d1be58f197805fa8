/** `prism serve` merges inline experiments with `experiments.file` and validates them together. */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { experimentsOf } from "../../src/cli/commands/serve.js";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const arms = [
  { name: "a", target: "routed" },
  { name: "b", target: "base" },
];

async function yamlFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), "prism-exp-")), "experiments.yaml");
  await writeFile(file, text);
  return file;
}

describe("experimentsOf", () => {
  it("is null without experiments (every request routed by the gate)", async () => {
    expect(await experimentsOf(loadConfig({ env: {} }).experiments)).toBeNull();
  });

  it("appends the file's experiments to the inline ones", async () => {
    const file = await yamlFile("experiments:\n  - name: from-file\n    arms:\n      - {name: x, target: 'persona:writer'}\n      - {name: y, target: base}\n");
    const config = loadConfig({ env: {}, overrides: { experiments: { file, experiments: [{ name: "inline", arms }] } } });
    const merged = await experimentsOf(config.experiments);
    expect(merged?.experiments.map((e) => e.name)).toEqual(["inline", "from-file"]);
    expect(merged?.experiments[1]?.arms[0]).toEqual({ name: "x", target: "persona:writer", weight: 1 });
  });

  it("refuses a name used inline and in the file, and a bad file, as ConfigError", async () => {
    const dup = await yamlFile("experiments:\n  - name: inline\n    arms: [{name: a, target: routed}, {name: b, target: base}]\n");
    const config = loadConfig({ env: {}, overrides: { experiments: { file: dup, experiments: [{ name: "inline", arms }] } } });
    await expect(experimentsOf(config.experiments)).rejects.toThrow(/experiment names must be unique/);
    const bad = await yamlFile("experiments:\n  - name: one-arm\n    arms: [{name: a, target: routed}]\n");
    const error = await experimentsOf(loadConfig({ env: {}, overrides: { experiments: { file: bad } } }).experiments).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toMatch(/experiments\.0\.arms/);
  });
});

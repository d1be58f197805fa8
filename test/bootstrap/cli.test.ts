import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

async function prism(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { timeout: 60_000 });
    return { code: 0, stderr: "" };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? "" };
  }
}

describe("prism bootstrap command line", () => {
  it("refuses bad input with a clear message and exit code 1, before loading any model", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bootstrap-cli-"));
    await writeFile(join(dir, "bad.yaml"), "name: Not OK\nlong: x\n");
    const badPersonas = await prism(["bootstrap", "--out", join(dir, "pack"), "--personas", dir]);
    expect(badPersonas.code).toBe(1);
    expect(badPersonas.stderr).toContain("bad.yaml: name");
    expect(badPersonas.stderr).toContain("bad.yaml: long");

    const missingModel = await prism(["bootstrap", "--model", join(dir, "nope.gguf"), "--out", join(dir, "pack")]);
    expect(missingModel.code).toBe(1);
    expect(missingModel.stderr).toContain("does not exist");

    const badName = await prism(["bootstrap", "--out", join(dir, "Bad Name")]);
    expect(badName.code).toBe(1);
    expect(badName.stderr).toContain("pack folder name");

    const badQueries = await prism(["bootstrap", "--out", join(dir, "pack"), "--queries", "0"]);
    expect(badQueries.code).not.toBe(0);
    expect(badQueries.stderr).toContain("must be a positive integer");

    const badJudge = await prism(["bootstrap", "--out", join(dir, "pack"), "--judge", "vibes"]);
    expect(badJudge.code).not.toBe(0);
    expect(badJudge.stderr).toMatch(/--judge.*vibes.*(logit|text)/s);
    const badMargin = await prism(["bootstrap", "--out", join(dir, "pack"), "--judge-margin", "1.5"]);
    expect(badMargin.code).not.toBe(0);
    expect(badMargin.stderr).toContain("must be a number from 0 to 1");
  });
});

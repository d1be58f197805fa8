/**
 * The Python reference tools in `.venv` (created by scripts/setup-python.sh, which .ci/run runs).
 * Locally a missing tool skips the tests that need it, with a message; under CI it is an error, so a
 * broken CI set-up can never turn into silently skipped checks.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export const PYTHON = existsSync(resolve(".venv/bin/python")) ? resolve(".venv/bin/python") : "python3";

/** True when `PYTHON` can import every module; throws under CI when it cannot. */
export async function pythonHas(modules: readonly string[], purpose: string): Promise<boolean> {
  try {
    await run(PYTHON, ["-c", `import ${modules.join(", ")}`]);
    return true;
  } catch {
    const message = `${purpose}: ${PYTHON} lacks ${modules.join("/")} (run scripts/setup-python.sh)`;
    if (process.env.CI) throw new Error(message);
    console.warn(`SKIPPED ${message}`);
    return false;
  }
}

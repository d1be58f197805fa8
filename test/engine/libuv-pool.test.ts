/**
 * `prism serve` runs with a one-thread libuv pool (engine.threadpoolSize): the decision table, and the real
 * CLI re-running itself with UV_THREADPOOL_SIZE set, relaying SIGTERM (exit 0) and leaving no orphaned server
 * when the parent is SIGKILLed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { planThreadpool, REEXEC_MARKER } from "../../src/engine/libuv-pool.js";
import { fixturePaths } from "../helpers/paths.js";

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

describe("planThreadpool", () => {
  it("re-runs only when the variable is unset and a size is configured", () => {
    expect(planThreadpool(1, {})).toEqual({ action: "reexec", size: 1 });
    expect(planThreadpool(1, { UV_THREADPOOL_SIZE: "" })).toEqual({ action: "reexec", size: 1 });
    expect(planThreadpool(1, { UV_THREADPOOL_SIZE: "1" })).toEqual({ action: "run-here", reason: "configured" });
    expect(planThreadpool(1, { UV_THREADPOOL_SIZE: "8" })).toEqual({ action: "run-here", reason: "explicit-env" });
    expect(planThreadpool(null, {})).toEqual({ action: "run-here", reason: "not-configured" });
    // A re-run child never re-runs again, whatever the variable says.
    expect(planThreadpool(2, { [REEXEC_MARKER]: "1", UV_THREADPOOL_SIZE: "7" })).toEqual({ action: "run-here", reason: "child" });
  });
});

interface Started {
  readonly parent: ChildProcess;
  readonly serverPid: number;
  readonly exited: Promise<number | null>;
  readonly output: () => string;
}

function childPidsOf(pid: number): number[] {
  const tasks = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
  return tasks ? tasks.split(/\s+/).map(Number) : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

/** `prism serve` without UV_THREADPOOL_SIZE in its environment, until the re-run server listens. */
async function startServe(): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, PRISM_MODEL_CONTEXT_SIZE: "256", PRISM_MODEL_SEQUENCES: "1", PRISM_ADAPTERS_DIR: "/nonexistent-prism-adapters" };
  delete env.UV_THREADPOOL_SIZE;
  delete env[REEXEC_MARKER];
  const parent = spawn(
    process.execPath,
    ["--import", TSX_LOADER, join(process.cwd(), "src/cli/main.ts"), "serve", "--model", fixturePaths().modelPath, "--port", "0", "--host", "127.0.0.1"],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  parent.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  parent.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => parent.once("exit", (code) => resolve(code)));
  const listening = await waitFor(() => /Server listening at/.test(out) || parent.exitCode !== null, 120_000);
  if (!listening || parent.exitCode !== null) throw new Error(`prism serve did not start:\n${out}`);
  const [serverPid] = childPidsOf(parent.pid!);
  if (serverPid === undefined) throw new Error(`prism serve listened without a re-run child:\n${out}`);
  return { parent, serverPid, exited, output: () => out };
}

describe("prism serve re-runs itself with a one-thread libuv pool", { timeout: 180_000 }, () => {
  it("serves from a child with UV_THREADPOOL_SIZE=1 and exits 0 on SIGTERM to the parent", async () => {
    const served = await startServe();
    try {
      const environ = readFileSync(`/proc/${served.serverPid}/environ`, "utf8").split("\0");
      expect(environ).toContain("UV_THREADPOOL_SIZE=1");
      expect(served.output()).toMatch(/"uvThreadpoolSize":"1"/);
      served.parent.kill("SIGTERM");
      expect(await served.exited).toBe(0);
      expect(await waitFor(() => !alive(served.serverPid), 10_000)).toBe(true);
    } finally {
      if (alive(served.serverPid)) process.kill(served.serverPid, "SIGKILL");
    }
  });

  it("leaves no orphaned server when the parent is SIGKILLed", async () => {
    const served = await startServe();
    try {
      served.parent.kill("SIGKILL");
      await served.exited;
      // The child notices its IPC channel closing and shuts down on its own.
      expect(await waitFor(() => !alive(served.serverPid), 15_000)).toBe(true);
    } finally {
      if (alive(served.serverPid)) process.kill(served.serverPid, "SIGKILL");
    }
  });
});

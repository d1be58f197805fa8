/** The real `prism serve` CLI as a child process on the fixture model (what `npm start` runs), for e2e tests. */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { fixturePaths } from "./paths.js";

/** tsx's loader and the CLI by absolute path, so the CLI can run from any working directory. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const CLI_MAIN = join(import.meta.dirname, "..", "..", "src", "cli", "main.ts");
/** serve's startup summary (src/cli/commands/serve.ts), logged once adapter packs are loaded. */
const STARTUP_SUMMARY = /serving \d+ adapter pack\(s\)/;

export interface ServedCli {
  readonly child: ChildProcess;
  readonly origin: string;
  /** Every health status seen from the moment the server listens until it answers 200. */
  readonly healthSeen: { status: number; type?: string }[];
  /** stdout and stderr so far. */
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/**
 * Spawns `prism serve` on port 0 with `env` over PRISM_MODEL_CONTEXT_SIZE=256 and PRISM_MODEL_SEQUENCES=2,
 * waits for its listening line, polls /health until 200, then until the startup summary line has been read.
 * The child is killed if startup fails.
 */
export async function startServeCli(env: Record<string, string>, cwd = process.cwd()): Promise<ServedCli> {
  const child = spawn(
    process.execPath,
    ["--import", TSX_LOADER, CLI_MAIN, "serve", "--model", fixturePaths().modelPath, "--port", "0", "--host", "127.0.0.1"],
    { cwd, env: { ...process.env, PRISM_MODEL_CONTEXT_SIZE: "256", PRISM_MODEL_SEQUENCES: "2", ...env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    const origin = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match) {
          clearInterval(timer);
          resolve(match[1]!);
        } else if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`prism serve exited with ${child.exitCode}:\n${out}`));
        }
      }, 5);
    });
    const healthSeen: ServedCli["healthSeen"] = [];
    for (let i = 0; i < 1200; i++) {
      const res = await fetch(`${origin}/health`);
      const body = (await res.json()) as { error?: { type?: string } };
      healthSeen.push({ status: res.status, ...(body.error?.type ? { type: body.error.type } : {}) });
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // serve logs this line before /health turns 200, but its stdout pipe may reach us after the health
    // response's socket does (seen on the loaded machine): tests read it from output() right away.
    for (let i = 0; i < 400 && !STARTUP_SUMMARY.test(out); i++) await new Promise((r) => setTimeout(r, 25));
    return { child, origin, healthSeen, output: () => out, exited };
  } catch (error) {
    if (child.exitCode === null) child.kill("SIGKILL");
    throw error;
  }
}

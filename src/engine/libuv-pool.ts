/**
 * The libuv threadpool size of the serving process. node-llama-cpp runs every model step (decode, sampling)
 * as async work on libuv's pool; with Node's default of 4 pool threads, consecutive steps hop between threads
 * and oversubscribe the cores the compute threads spin on (measured on 2 cores: ~1.6× slower at one request).
 * One pool thread keeps all model work on one thread; the HTTP side does not use the pool (sockets are epoll,
 * pino writes synchronously, SQLite is synchronous), so only rare file reads queue behind a model step.
 *
 * libuv reads UV_THREADPOOL_SIZE once, when the pool starts, and an ES module entry point starts it before
 * any user code runs (the loader reads files through it). So the size cannot be set from inside the process:
 * `runWithThreadpoolSize` re-runs the same command in a child with the variable set and relays signals and
 * the exit code. Containers set the variable in the image (Dockerfile ENV), so PID 1 is the server itself.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";

/** Set in the re-run child so it never re-runs itself again, whatever the variable says. */
export const REEXEC_MARKER = "PRISM_THREADPOOL_REEXEC";

const RELAYED_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;

export type ThreadpoolPlan =
  /** Run here: the size is already what was asked, the user set it explicitly, or no size is configured. */
  | { readonly action: "run-here"; readonly reason: "configured" | "explicit-env" | "not-configured" | "child" }
  /** Re-run this command with UV_THREADPOOL_SIZE = size. */
  | { readonly action: "reexec"; readonly size: number };

/**
 * Decides whether this process must re-run itself. An explicit UV_THREADPOOL_SIZE always wins (the operator
 * knows better), and a re-run child never re-runs again.
 */
export function planThreadpool(size: number | null, env: NodeJS.ProcessEnv): ThreadpoolPlan {
  if (env[REEXEC_MARKER] === "1") return { action: "run-here", reason: "child" };
  if (size === null) return { action: "run-here", reason: "not-configured" };
  const current = env.UV_THREADPOOL_SIZE;
  if (current === String(size)) return { action: "run-here", reason: "configured" };
  if (current !== undefined && current !== "") return { action: "run-here", reason: "explicit-env" };
  return { action: "reexec", size };
}

/** The size of this process's libuv pool, as libuv read it at startup (Node's default is 4). */
export function libuvPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const size = Number.parseInt(env.UV_THREADPOOL_SIZE ?? "", 10);
  return Number.isInteger(size) && size > 0 ? size : 4;
}

/**
 * Re-runs this process (same node flags, script and arguments) with UV_THREADPOOL_SIZE=size, stdio shared.
 * SIGTERM/SIGINT/SIGHUP are relayed to the child (which drains and exits on its own); an IPC channel lets the
 * child notice when this parent dies, even by SIGKILL, so no orphaned server keeps its port. Resolves with the
 * exit code to use (128 + signal number when the child was killed by a signal).
 */
export function runWithThreadpoolSize(size: number): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(size), [REEXEC_MARKER]: "1" },
    stdio: ["inherit", "inherit", "inherit", "ipc"],
  });
  const relay = (signal: NodeJS.Signals) => (): void => {
    child.kill(signal);
  };
  const handlers = RELAYED_SIGNALS.map((signal) => [signal, relay(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return new Promise((resolve) => {
    child.once("error", (error) => {
      process.stderr.write(`prism: cannot re-run with UV_THREADPOOL_SIZE=${size}: ${error.message}\n`);
      resolve(1);
    });
    child.once("exit", (code, signal) => {
      for (const [name, handler] of handlers) process.off(name, handler);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

/**
 * In a re-run child: calls `onOrphaned` when the parent that started it goes away (its IPC channel closes),
 * e.g. the parent was SIGKILLed. The channel is unref'd so it never keeps the process alive by itself.
 */
export function watchParent(onOrphaned: () => void): void {
  if (process.env[REEXEC_MARKER] !== "1" || !process.channel) return;
  process.channel.unref();
  process.once("disconnect", onOrphaned);
}

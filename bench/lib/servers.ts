/** The servers the generation benchmarks drive over HTTP: `prism serve` and llama.cpp's `llama-server`, as child processes. */
import { spawn, type ChildProcess } from "node:child_process";

export interface StartedServer {
  readonly origin: string;
  readonly child: ChildProcess;
}

/** Polls `origin`/health until 200; fails early when the child exits. */
export async function waitForHealth(origin: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${origin}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${origin}/health not healthy after ${timeoutMs / 1000} s`);
}

export interface GatewayOptions {
  readonly modelPath: string;
  readonly threads: number;
  readonly sequences: number;
  readonly contextSize: number;
  /** The environment the PRISM_* settings go over (default: this process's). */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /** Settings over the defaults above (adapters folder, ablation knobs). */
  readonly extraEnv?: NodeJS.ProcessEnv;
  readonly healthTimeoutMs: number;
  /** Called with the child as soon as it is spawned (to stop it when the bench is interrupted). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** `prism serve` on port 0 (origin from its listening line), rate limit off, once /health answers 200. */
export async function startGateway(options: GatewayOptions): Promise<StartedServer> {
  const env: NodeJS.ProcessEnv = {
    ...(options.baseEnv ?? process.env),
    PRISM_MODEL_THREADS: String(options.threads),
    PRISM_MODEL_SEQUENCES: String(options.sequences),
    PRISM_MODEL_CONTEXT_SIZE: String(options.contextSize),
    PRISM_ENGINE_MAX_QUEUE: "64",
    PRISM_LIMITS_REQUESTS_PER_MINUTE: "null",
    ...options.extraEnv,
  };
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--model", options.modelPath, "--port", "0", "--host", "127.0.0.1"], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  options.onSpawn?.(child);
  const origin = await new Promise<string>((resolve, reject) => {
    let out = "";
    const onData = (data: Buffer): void => {
      out += data.toString();
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (match) {
        child.stdout!.off("data", onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`prism serve exited with ${code}:\n${out}`)));
  });
  child.stdout!.resume();
  await waitForHealth(origin, child, options.healthTimeoutMs);
  return { origin, child };
}

export interface LlamaServerOptions {
  readonly binary: string;
  readonly modelPath: string;
  readonly threads: number;
  readonly slots: number;
  /** Per slot, like the gateway's contexts (llama-server's -c is shared by its slots). */
  readonly contextSize: number;
  /** Loaded unapplied: requests choose its scale with `lora`. */
  readonly loraPath?: string | null;
  /** More llama-server arguments, e.g. `["-fa", "off"]`. */
  readonly extraArgs?: readonly string[];
  /** Port to listen on (default: a random one in 18000–19999). */
  readonly port?: number;
  readonly stderr: "ignore" | "inherit";
  readonly healthTimeoutMs: number;
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** `llama-server` on `options.port` (else a random port in 18000–19999), once /health answers 200. */
export async function startLlamaServer(options: LlamaServerOptions): Promise<StartedServer> {
  const port = options.port ?? 18000 + Math.floor(Math.random() * 2000);
  const lora = options.loraPath ? ["--lora", options.loraPath, "--lora-init-without-apply"] : [];
  const args = ["-m", options.modelPath, ...lora, "-t", String(options.threads), "-np", String(options.slots), "-c", String(options.contextSize * options.slots), ...(options.extraArgs ?? [])];
  const child = spawn(options.binary, [...args, "--port", String(port), "--host", "127.0.0.1"], { stdio: ["ignore", "ignore", options.stderr] });
  options.onSpawn?.(child);
  const origin = `http://127.0.0.1:${port}`;
  await waitForHealth(origin, child, options.healthTimeoutMs);
  return { origin, child };
}

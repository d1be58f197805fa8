/**
 * Size + sha256 verification of model files. Hashing 100 MB costs ~0.3 s, so a successful check leaves a
 * small stamp (size, mtime, digest) in `<modelsDir>/.cache/`; an unchanged file is trusted from it.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { KnownModel } from "./default-model.js";

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

function stampPath(path: string): string {
  return join(dirname(path), ".cache", `${basename(path)}.verified.json`);
}

/** Checks `path` against `expected`; `useStamp` allows trusting a previous successful check of the same file. */
export async function verifyModelFile(path: string, expected: KnownModel, useStamp = true): Promise<VerifyResult> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return { ok: false, reason: `${path} does not exist` };
  if (info.size !== expected.sizeBytes) return { ok: false, reason: `${path} has ${info.size} bytes, expected ${expected.sizeBytes}` };
  const stamp = { size: info.size, mtimeMs: info.mtimeMs, sha256: expected.sha256 };
  if (useStamp) {
    const previous = await readFile(stampPath(path), "utf8").then((s) => JSON.parse(s) as unknown, () => undefined);
    if (JSON.stringify(previous) === JSON.stringify(stamp)) return { ok: true };
  }
  const digest = await sha256File(path);
  if (digest !== expected.sha256) return { ok: false, reason: `${path} has sha256 ${digest}, expected ${expected.sha256}` };
  await mkdir(dirname(stampPath(path)), { recursive: true });
  const tmp = `${stampPath(path)}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(stamp));
  await rename(tmp, stampPath(path));
  return { ok: true };
}

/**
 * Resumable, deterministic pipeline stages. A stage maps keyed inputs to records:
 * - every finished record is appended to `<stage>.jsonl` as one line with a single write, so an
 *   interrupted run leaves at most one torn last line, which the loader drops;
 * - a rerun loads the file and only runs the keys not in it;
 * - each record gets a seed derived from (run seed, stage, key), so results do not depend on the
 *   order in which concurrent work completes;
 * - when all keys are done the file is rewritten in key order (temp + rename) and a
 *   `<stage>.done.json` marker with counts and wall time is written; a completed stage is not rerun.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";
import { z } from "zod";
import { BootstrapError } from "../errors.js";

/** uint32 seed for one record: stable across runs, independent of scheduling. */
export function deriveSeed(runSeed: number, ...parts: readonly string[]): number {
  const h = createHash("sha256").update(`${runSeed}\u0000${parts.join("\u0000")}`).digest();
  return h.readUInt32LE(0);
}

/** Writes `data` to `path` atomically: temp file in the same folder, then rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export interface StageProgress {
  start(stage: string, total: number, alreadyDone: number): void;
  increment(stage: string): void;
  stop(stage: string): void;
}

/** Progress sink that shows nothing (tests, non-TTY). */
export const silentProgress: StageProgress = { start() {}, increment() {}, stop() {} };

export const stageMarkerSchema = z.object({
  stage: z.string(),
  records: z.number().int().nonnegative(),
  /** Records produced by the session that completed the stage (the rest came from earlier sessions). */
  ranThisSession: z.number().int().nonnegative(),
  /** Wall time of all sessions that worked on the stage, ms. */
  wallMs: z.number().nonnegative(),
  completedAt: z.string(),
});
export type StageMarker = z.infer<typeof stageMarkerSchema>;

export interface StageItem<I> {
  readonly key: string;
  readonly input: I;
}

export interface StageContext {
  readonly seed: number;
  readonly signal: AbortSignal;
}

export interface StageSpec<I, O> {
  readonly name: string;
  readonly items: readonly StageItem<I>[];
  /** Validates records read back from disk (a file edited by hand or from another version is refused). */
  readonly schema: z.ZodType<O>;
  /** `previous`: the stored record of this key when `isComplete` refused it. */
  readonly run: (input: I, ctx: StageContext, previous?: O) => Promise<O>;
  readonly concurrency: number;
  /**
   * Stored records failing this (written by an older version, or for another input under the same key)
   * are run again, with the old record at hand.
   */
  readonly isComplete?: (value: O, input: I) => boolean;
}

export interface StageResult<O> {
  /** Records in item order. */
  readonly records: readonly { readonly key: string; readonly value: O }[];
  readonly marker: StageMarker;
}

const lineSchema = z.object({ key: z.string(), value: z.unknown() });

export class StageRunner {
  constructor(
    readonly runDir: string,
    readonly runSeed: number,
    private readonly progress: StageProgress = silentProgress,
    private readonly signal: AbortSignal = new AbortController().signal,
  ) {}

  recordsPath(stage: string): string {
    return join(this.runDir, `${stage}.jsonl`);
  }

  markerPath(stage: string): string {
    return join(this.runDir, `${stage}.done.json`);
  }

  private elapsedPath(stage: string): string {
    return join(this.runDir, `${stage}.elapsed`);
  }

  /** Reads finished records, dropping a torn last line and records for keys no longer asked for. */
  async load<O>(stage: string, schema: z.ZodType<O>): Promise<Map<string, O>> {
    const out = new Map<string, O>();
    const path = this.recordsPath(stage);
    if (!existsSync(path)) return out;
    const lines = (await readFile(path, "utf8")).split("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        // Only the last line can be torn by an interrupted append; anything else is corruption.
        if (i >= lines.length - 2) return;
        throw new BootstrapError(`${path}:${i + 1}: unreadable record (${(err as Error).message})`);
      }
      const { key, value } = lineSchema.parse(parsed);
      out.set(key, schema.parse(value));
    });
    return out;
  }

  async run<I, O>(spec: StageSpec<I, O>): Promise<StageResult<O>> {
    await mkdir(this.runDir, { recursive: true });
    const markerFile = this.markerPath(spec.name);
    const done = await this.load(spec.name, spec.schema);
    const incomplete = new Map<string, O>();
    const inputs = new Map(spec.items.map((i) => [i.key, i.input]));
    for (const [key, value] of done) {
      const input = inputs.get(key);
      if (spec.isComplete && input !== undefined && !spec.isComplete(value, input)) incomplete.set(key, value);
    }
    for (const key of incomplete.keys()) done.delete(key);
    const keys = new Set(spec.items.map((i) => i.key));
    if (keys.size !== spec.items.length) throw new RangeError(`stage ${spec.name}: duplicate keys`);
    if (existsSync(markerFile) && spec.items.every((i) => done.has(i.key))) {
      const marker = stageMarkerSchema.parse(JSON.parse(await readFile(markerFile, "utf8")));
      return { records: spec.items.map((i) => ({ key: i.key, value: done.get(i.key)! })), marker };
    }

    const previousMs = existsSync(this.elapsedPath(spec.name))
      ? Number(await readFile(this.elapsedPath(spec.name), "utf8")) || 0
      : 0;
    const started = performance.now();
    const saveElapsed = () =>
      writeFileAtomic(this.elapsedPath(spec.name), String(Math.round(previousMs + performance.now() - started)));

    const pending = spec.items.filter((i) => !done.has(i.key));
    const limit = pLimit(Math.max(1, spec.concurrency));
    const path = this.recordsPath(spec.name);
    let ranThisSession = 0;
    this.progress.start(spec.name, spec.items.length, spec.items.length - pending.length);
    try {
      const results = await Promise.allSettled(
        pending.map((item) =>
          limit(async () => {
            if (this.signal.aborted) return;
            const seed = deriveSeed(this.runSeed, spec.name, item.key);
            const value = await spec.run(item.input, { seed, signal: this.signal }, incomplete.get(item.key));
            // One appendFile = one write(2) of one line: records never interleave.
            await appendFile(path, JSON.stringify({ key: item.key, value }) + "\n");
            done.set(item.key, value);
            ranThisSession++;
            this.progress.increment(spec.name);
          }),
        ),
      );
      this.signal.throwIfAborted();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    } finally {
      this.progress.stop(spec.name);
      await saveElapsed();
    }

    const records = spec.items.map((i) => ({ key: i.key, value: done.get(i.key)! }));
    // Canonical order on disk: a completed stage file is byte-identical across runs with the same seed.
    await writeFileAtomic(path, records.map((r) => JSON.stringify(r) + "\n").join(""));
    const marker: StageMarker = {
      stage: spec.name,
      records: records.length,
      ranThisSession,
      wallMs: Math.round(previousMs + performance.now() - started),
      completedAt: new Date().toISOString(),
    };
    await writeFileAtomic(markerFile, JSON.stringify(marker, null, 2) + "\n");
    return { records, marker };
  }
}

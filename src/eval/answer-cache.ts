/**
 * Resumable answer cache: an append-only JSONL file of `{key, value}` records. Every record is one
 * `appendFile` (one write(2) with O_APPEND), so an interrupted run leaves at worst a torn last line,
 * which `open` skips. Keys are SHA-256 hashes of everything that determines the answer (server model
 * identity, model name, mode, messages, sampling parameters), so a changed pack or prompt misses.
 */
import { createHash } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";

export function cacheKey(parts: unknown): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

export class AnswerCache {
  private readonly entries = new Map<string, unknown>();
  /** Lines that could not be parsed when the file was opened (a torn tail after a crash). */
  skippedLines = 0;

  private constructor(private readonly file: string | null) {}

  /** A cache backed by `file` (created on first write); null keeps it in memory only. */
  static async open(file: string | null): Promise<AnswerCache> {
    const cache = new AnswerCache(file);
    if (file === null) return cache;
    let text = "";
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    // Terminate a torn tail so the next record starts on its own line.
    if (text !== "" && !text.endsWith("\n")) await appendFile(file, "\n", "utf8");
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        const record = JSON.parse(line) as { key?: unknown; value?: unknown };
        if (typeof record.key === "string" && record.value !== undefined) cache.entries.set(record.key, record.value);
        else cache.skippedLines++;
      } catch {
        cache.skippedLines++;
      }
    }
    return cache;
  }

  get size(): number {
    return this.entries.size;
  }

  get<T>(key: string): T | undefined {
    return this.entries.get(key) as T | undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.entries.set(key, value);
    if (this.file === null) return;
    await mkdir(dirname(this.file), { recursive: true });
    await appendFile(this.file, JSON.stringify({ key, value }) + "\n", "utf8");
  }

  /** Cached value for `key`, or compute, store and return it. */
  async through<T>(key: string, compute: () => Promise<T>): Promise<{ value: T; cached: boolean }> {
    const hit = this.get<T>(key);
    if (hit !== undefined) return { value: hit, cached: true };
    const value = await compute();
    await this.put(key, value);
    return { value, cached: false };
  }
}

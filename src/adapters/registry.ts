/**
 * The live set of adapter packs. Readers take an immutable snapshot (no lock on the request path);
 * changes (add, replace, remove) are serialised and published by swapping the snapshot, so a request
 * that already picked a pack keeps it, and the engine finishes its in-flight streams on the old
 * context (see Engine.loadAdapter). No restart, no global pause.
 *
 * A replacement that fails validation is refused and the previous version keeps serving: the old
 * weights are already in memory, and a half-copied folder must not take a working persona offline.
 */
import { watch, type FSWatcher } from "node:fs";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { AdapterPackError, NotFoundError } from "../errors.js";
import type { Engine } from "../engine/types.js";
import { MANIFEST_FILE } from "./manifest.js";
import { loadAdapterPack, type AdapterPack } from "./pack.js";
import type { ServedModel } from "./served-model.js";

export type AdapterEngine = Pick<Engine, "loadAdapter" | "unloadAdapter">;

export type RegistryEvent =
  | { readonly type: "loaded"; readonly name: string; readonly replaced: boolean; readonly ms: number }
  | { readonly type: "refused"; readonly name: string; readonly problems: readonly string[] }
  | { readonly type: "removed"; readonly name: string };

export interface AdapterRegistryOptions {
  readonly engine: AdapterEngine;
  readonly served: ServedModel;
  /** The adapters folder (each subfolder one pack); null = packs only via `load`. */
  readonly adaptersDir: string | null;
  /** Called for every change and refusal (logging, metrics). */
  readonly onEvent?: (event: RegistryEvent) => void;
}

export interface Refusal {
  readonly name: string;
  readonly dir: string;
  readonly problems: readonly string[];
  readonly at: string;
}

export class AdapterRegistry {
  private packs: ReadonlyMap<string, AdapterPack> = new Map();
  private list: readonly AdapterPack[] = [];
  private readonly refused = new Map<string, Refusal>();
  /** Folder as given (resolved, not realpath'd) → pack name, so the watcher can find removed packs. */
  private readonly folderToName = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | null = null;
  private readonly pendingWatch = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: AdapterRegistryOptions) {}

  /** The current packs; an immutable array safe to hold for the life of a request. */
  snapshot(): readonly AdapterPack[] {
    return this.list;
  }

  get(name: string): AdapterPack | undefined {
    return this.packs.get(name);
  }

  refusals(): readonly Refusal[] {
    return [...this.refused.values()];
  }

  /** Runs mutations one at a time; a failed one does not block the next. */
  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private publish(next: Map<string, AdapterPack>): void {
    this.packs = next;
    this.list = Object.freeze([...next.values()].sort((a, b) => a.name.localeCompare(b.name)));
  }

  /** Validates the pack folder and adds it, or replaces the pack of the same name. */
  load(packDir: string): Promise<AdapterPack> {
    return this.serialise(async () => {
      const dir = resolve(packDir);
      const started = performance.now();
      let pack: AdapterPack;
      try {
        pack = await loadAdapterPack(dir, this.options.served);
        const other = this.packs.get(pack.name);
        if (other && other.dir !== pack.dir) {
          throw new AdapterPackError(pack.name, [`name '${pack.name}' is already served from ${other.dir}`]);
        }
        if (pack.loraPath !== null) {
          await this.options.engine.loadAdapter(pack.name, pack.loraPath, pack.manifest.lora?.scale ?? 1);
        }
      } catch (error) {
        const problems = error instanceof AdapterPackError ? error.problems : [(error as Error).message];
        const name = error instanceof AdapterPackError ? error.pack : dir;
        this.refused.set(dir, { name, dir, problems, at: new Date().toISOString() });
        this.options.onEvent?.({ type: "refused", name, problems });
        throw error instanceof AdapterPackError ? error : new AdapterPackError(name, problems);
      }
      const previous = this.packs.get(pack.name);
      // A persona-prompt pack replacing a LoRA pack leaves the old adapter context to unload.
      if (previous?.loraPath && pack.loraPath === null) await this.options.engine.unloadAdapter(pack.name);
      const next = new Map(this.packs);
      next.set(pack.name, pack);
      this.publish(next);
      this.folderToName.set(dir, pack.name);
      this.refused.delete(dir);
      this.options.onEvent?.({ type: "loaded", name: pack.name, replaced: previous !== undefined, ms: performance.now() - started });
      return pack;
    });
  }

  remove(name: string): Promise<void> {
    return this.serialise(async () => {
      const pack = this.packs.get(name);
      if (!pack) throw new NotFoundError(`adapter pack '${name}' is not loaded`);
      const next = new Map(this.packs);
      next.delete(name);
      this.publish(next);
      for (const [dir, n] of this.folderToName) if (n === name) this.folderToName.delete(dir);
      if (pack.loraPath !== null) await this.options.engine.unloadAdapter(name);
      this.options.onEvent?.({ type: "removed", name });
    });
  }

  /** Loads every pack folder under the adapters folder; bad packs are refused, the rest are served. */
  async scan(): Promise<{ loaded: string[]; refused: AdapterPackError[] }> {
    const root = this.options.adaptersDir;
    if (root === null) return { loaded: [], refused: [] };
    const loaded: string[] = [];
    const refused: AdapterPackError[] = [];
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch {
      return { loaded, refused };
    }
    for (const entry of entries.filter((e) => e.isDirectory() && !e.name.startsWith(".")).sort((a, b) => a.name.localeCompare(b.name))) {
      try {
        loaded.push((await this.load(join(root, entry.name))).name);
      } catch (error) {
        if (error instanceof AdapterPackError) refused.push(error);
        else throw error;
      }
    }
    return { loaded, refused };
  }

  /**
   * Watches the adapters folder: a pack folder that appears or changes is (re)loaded once it has been
   * quiet for `debounceMs` (copies land file by file); one whose manifest is gone is removed.
   */
  watch(debounceMs = 300): void {
    const root = this.options.adaptersDir;
    if (root === null || this.watcher) return;
    this.watcher = watch(root, { recursive: true }, (_event, file) => {
      if (!file) return;
      const top = file.toString().split(/[\\/]/)[0];
      if (!top || top.startsWith(".")) return;
      clearTimeout(this.pendingWatch.get(top));
      this.pendingWatch.set(
        top,
        setTimeout(() => {
          this.pendingWatch.delete(top);
          void this.syncFolder(join(root, top));
        }, debounceMs),
      );
    });
    this.watcher.on("error", () => this.unwatch());
  }

  unwatch(): void {
    this.watcher?.close();
    this.watcher = null;
    for (const t of this.pendingWatch.values()) clearTimeout(t);
    this.pendingWatch.clear();
  }

  private async syncFolder(dir: string): Promise<void> {
    const abs = resolve(dir);
    const existingName = this.folderToName.get(abs);
    let hasManifest = true;
    try {
      await readdir(abs).then((files) => (hasManifest = files.includes(MANIFEST_FILE)));
    } catch {
      hasManifest = false;
    }
    if (!hasManifest) {
      if (existingName !== undefined) await this.remove(existingName).catch(() => undefined);
      this.refused.delete(abs);
      return;
    }
    // Refusals are recorded and reported through onEvent; watching never throws.
    await this.load(abs).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.unwatch();
    await this.queue;
  }
}

/**
 * Training checkpoints: `<dir>/checkpoint-<step>.bin` (LoRA params, then AdamW m and v, f32) and
 * `<dir>/checkpoint.json` naming it. Both written atomically, the JSON last, so a crash at any point leaves the
 * previous complete checkpoint in place.
 */
import { mkdir, readFile, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { z } from "zod";
import { DistillError } from "../../errors.js";

export const checkpointMetaSchema = z.object({
  version: z.literal(1),
  step: z.number().int().nonnegative(),
  totalSteps: z.number().int().positive(),
  file: z.string(),
  dataHash: z.string(),
  configHash: z.string(),
  /** Mean loss per token of every finished step. */
  losses: z.array(z.number()),
  heldOutKlBefore: z.number().nullable(),
  arrays: z.number().int().nonnegative(),
  floats: z.number().int().nonnegative(),
});
export type CheckpointMeta = z.infer<typeof checkpointMetaSchema>;

export const CHECKPOINT_FILE = "checkpoint.json";

export async function saveCheckpoint(
  dir: string,
  meta: Omit<CheckpointMeta, "file" | "arrays" | "floats" | "version">,
  arrays: readonly Float32Array[],
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const floats = arrays.reduce((n, a) => n + a.length, 0);
  const buf = Buffer.allocUnsafe(floats * 4);
  let o = 0;
  for (const a of arrays) {
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(buf, o);
    o += a.byteLength;
  }
  const file = `checkpoint-${meta.step}.bin`;
  await writeFileAtomic(join(dir, file), buf);
  const full: CheckpointMeta = { version: 1, ...meta, file, arrays: arrays.length, floats };
  await writeFileAtomic(join(dir, CHECKPOINT_FILE), JSON.stringify(full) + "\n");
  for (const name of await readdir(dir)) {
    if (name !== file && /^checkpoint-\d+\.bin$/.test(name)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** Restores into `arrays` (same layout as saved); null when no checkpoint exists. */
export async function loadCheckpoint(dir: string, arrays: readonly Float32Array[]): Promise<CheckpointMeta | null> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), "utf8");
  } catch {
    return null;
  }
  const parsed = checkpointMetaSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new DistillError(`${join(dir, CHECKPOINT_FILE)}: unreadable checkpoint (${parsed.error.issues[0]?.message})`);
  const meta = parsed.data;
  const floats = arrays.reduce((n, a) => n + a.length, 0);
  if (meta.arrays !== arrays.length || meta.floats !== floats) {
    throw new DistillError(`${dir}: checkpoint layout (${meta.arrays} arrays, ${meta.floats} floats) does not match this run's (${arrays.length}, ${floats})`);
  }
  const buf = await readFile(join(dir, meta.file));
  if (buf.length !== floats * 4) throw new DistillError(`${join(dir, meta.file)}: truncated checkpoint`);
  let o = 0;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    bytes.set(buf.subarray(o, o + a.byteLength));
    o += a.byteLength;
  }
  return meta;
}

/**
 * What a pack is checked against: the served model's architecture, shapes, tensor dims and
 * fingerprint, read once from the GGUF header (no weights).
 */
import { fingerprintGguf, readGgufHeader } from "../gguf/index.js";

export interface ServedModel {
  readonly path: string;
  readonly architecture: string;
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly vocabSize: number;
  /** `fingerprintGguf` of the model; null when not computed. */
  readonly fingerprint: string | null;
  /** Tensor name → shape (ggml order, ne[0] first). */
  readonly tensorDims: ReadonlyMap<string, readonly number[]>;
}

export async function describeServedModel(path: string, options: { fingerprint?: boolean } = {}): Promise<ServedModel> {
  const header = await readGgufHeader(path);
  const meta = header.metadata;
  const architecture = meta.string("general.architecture") ?? "unknown";
  const tensorDims = new Map<string, readonly number[]>(header.tensors.map((t) => [t.name, t.shape]));
  const embd = tensorDims.get("token_embd.weight");
  return {
    path,
    architecture,
    embeddingLength: meta.number(`${architecture}.embedding_length`) ?? embd?.[0] ?? 0,
    blockCount: meta.number(`${architecture}.block_count`) ?? 0,
    vocabSize: meta.number(`${architecture}.vocab_size`) ?? embd?.[1] ?? 0,
    fingerprint: options.fingerprint === false ? null : await fingerprintGguf(path),
    tensorDims,
  };
}

/** The `baseModel` section a pack built for this model should carry. */
export function baseModelSpecOf(served: ServedModel) {
  return {
    architecture: served.architecture,
    embeddingLength: served.embeddingLength,
    blockCount: served.blockCount,
    vocabSize: served.vocabSize,
    fingerprint: served.fingerprint,
  };
}

/**
 * The served model's `token_embd` table for gate features (a): the raw (quantised) tensor stays in
 * memory (≈30 MB for SmolLM2-135M Q8_0) and rows are dequantised on demand into a bounded cache, so a
 * gate decision does no I/O and no engine pass.
 */
import { GgufError } from "../errors.js";
import { dequantize, openGguf } from "../gguf/index.js";

const TENSOR = "token_embd.weight";

export class TokenEmbeddingTable {
  private readonly cache = new Map<number, Float32Array>();

  private constructor(
    readonly path: string,
    readonly dim: number,
    readonly vocabSize: number,
    private readonly type: number,
    private readonly rowBytes: number,
    private readonly raw: Uint8Array,
    private readonly maxCachedRows: number,
  ) {}

  static async fromGguf(path: string, options: { maxCachedRows?: number } = {}): Promise<TokenEmbeddingTable> {
    const file = await openGguf(path);
    try {
      const info = file.tensor(TENSOR);
      const raw = await file.readRaw(TENSOR);
      const table = new TokenEmbeddingTable(path, info.rowLength, info.rowCount, info.type, info.rowBytes, raw, options.maxCachedRows ?? 16_384);
      table.row(0); // fail now, not per request, on an unsupported type
      return table;
    } finally {
      await file.close();
    }
  }

  /** Dequantised row of `tokenId` (shared; do not mutate). */
  row(tokenId: number): Float32Array {
    const hit = this.cache.get(tokenId);
    if (hit) return hit;
    if (!Number.isInteger(tokenId) || tokenId < 0 || tokenId >= this.vocabSize) {
      throw new RangeError(`token id ${tokenId} outside the vocabulary (0..${this.vocabSize - 1})`);
    }
    const out = new Float32Array(this.dim);
    const start = tokenId * this.rowBytes;
    if (!dequantize(this.type, this.raw.subarray(start, start + this.rowBytes), out)) {
      throw new GgufError(this.path, `unsupported ${TENSOR} type ${this.type} for gate features`);
    }
    if (this.cache.size >= this.maxCachedRows) {
      // Evict the oldest entry (Map keeps insertion order): a cheap approximate LRU.
      this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(tokenId, out);
    return out;
  }
}

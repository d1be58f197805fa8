import { type LlamaShape, type LoraTarget, loraTargets, targetDims } from "./shape.js";

/** One adapted projection: y += (alpha/r) · B·(A·x). A is [r, in] (GGUF `lora_a` ne=[in,r]), B is [out, r]. */
export interface LoraPair {
  readonly a: Float32Array;
  readonly b: Float32Array;
}

export type LoraLayer = Readonly<Record<LoraTarget, LoraPair>>;

export interface LoraParams {
  readonly rank: number;
  readonly alpha: number;
  /** null for layers without an adapter (PRISM leaves layer 0 untouched so gate features stay valid). */
  readonly layers: readonly (LoraLayer | null)[];
}

export function loraScale(p: Pick<LoraParams, "rank" | "alpha">): number {
  return p.alpha / p.rank;
}

/**
 * PEFT's initialisation: A ~ U(-1/√in, 1/√in) (kaiming-uniform, a=√5), B = 0, so training starts at the base model.
 * `firstLayer` = 1 adapts layers 1…N−1.
 */
export function initLora(shape: LlamaShape, rank: number, alpha: number, rng: () => number, firstLayer = 1): LoraParams {
  const layers: (LoraLayer | null)[] = [];
  for (let l = 0; l < shape.layers; l++) {
    if (l < firstLayer) {
      layers.push(null);
      continue;
    }
    const layer = {} as Record<LoraTarget, LoraPair>;
    for (const t of loraTargets) {
      const d = targetDims(shape, t);
      const a = new Float32Array(rank * d.in);
      const bound = 1 / Math.sqrt(d.in);
      for (let i = 0; i < a.length; i++) a[i] = (rng() * 2 - 1) * bound;
      layer[t] = { a, b: new Float32Array(d.out * rank) };
    }
    layers.push(layer);
  }
  return { rank, alpha, layers };
}

/** The same layout with every parameter array replaced by `map(array)`. */
function mapLora(p: LoraParams, map: (array: Float32Array) => Float32Array): LoraParams {
  return {
    rank: p.rank,
    alpha: p.alpha,
    layers: p.layers.map((layer) => {
      if (layer === null) return null;
      const out = {} as Record<LoraTarget, LoraPair>;
      for (const t of loraTargets) out[t] = { a: map(layer[t].a), b: map(layer[t].b) };
      return out;
    }),
  };
}

/** Zeroed arrays with the same layout (gradients, optimizer moments). */
export function zerosLike(p: LoraParams): LoraParams {
  return mapLora(p, (a) => new Float32Array(a.length));
}

/** Every parameter array in a fixed order (optimizer, checkpoints, gradient norms). */
export function loraArrays(p: LoraParams): Float32Array[] {
  const out: Float32Array[] = [];
  for (const layer of p.layers) {
    if (layer === null) continue;
    for (const t of loraTargets) out.push(layer[t].a, layer[t].b);
  }
  return out;
}

export function loraParamCount(p: LoraParams): number {
  return loraArrays(p).reduce((n, a) => n + a.length, 0);
}

/** A copy in SharedArrayBuffers (same layout), so worker threads read the parameters or write gradients in place. */
export function shareLora(p: LoraParams): LoraParams {
  return mapLora(p, (src) => {
    const out = new Float32Array(new SharedArrayBuffer(src.byteLength));
    out.set(src);
    return out;
  });
}

/** True when every parameter array lives in shared memory. */
export function isSharedLora(p: LoraParams): boolean {
  return loraArrays(p).every((a) => a.buffer instanceof SharedArrayBuffer);
}

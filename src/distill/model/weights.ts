import { type LlamaShape, type LoraTarget, loraTargets, targetDims } from "./shape.js";

/** Frozen weights of one decoder layer, f32, projections stored [out, in] row-major (GGUF row order). */
export interface LayerWeights {
  readonly attnNorm: Float32Array;
  readonly ffnNorm: Float32Array;
  readonly proj: Readonly<Record<LoraTarget, Float32Array>>;
}

/** A dequantized llama model the trainer computes with. Built from a GGUF file or from random values in tests. */
export interface StudentWeights {
  readonly shape: LlamaShape;
  /** [vocab, dim] */
  readonly tokenEmbd: Float32Array;
  readonly layers: readonly LayerWeights[];
  readonly outputNorm: Float32Array;
  /** [vocab, dim]; the same array as `tokenEmbd` when tied. */
  readonly output: Float32Array;
}

/** Deterministic random weights of a given shape (for gradient checks and benchmarks without a file). */
export function randomStudentWeights(shape: LlamaShape, rng: () => number, scale = 0.08): StudentWeights {
  const rand = (n: number, s = scale): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rng() * 2 - 1) * s;
    return a;
  };
  const norm = (n: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = 1 + (rng() * 2 - 1) * 0.1;
    return a;
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < shape.layers; l++) {
    const proj = {} as Record<LoraTarget, Float32Array>;
    for (const t of loraTargets) {
      const d = targetDims(shape, t);
      proj[t] = rand(d.out * d.in, 1 / Math.sqrt(d.in));
    }
    layers.push({ attnNorm: norm(shape.dim), ffnNorm: norm(shape.dim), proj });
  }
  const tokenEmbd = rand(shape.vocab * shape.dim, 1);
  return {
    shape,
    tokenEmbd,
    layers,
    outputNorm: norm(shape.dim),
    output: shape.tiedOutput ? tokenEmbd : rand(shape.vocab * shape.dim, 1 / Math.sqrt(shape.dim)),
  };
}

/** A copy of `src` in a SharedArrayBuffer, so worker threads can read it without copying. */
export function sharedCopy(src: Float32Array): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(src.byteLength));
  out.set(src);
  return out;
}

/** The weights in shared memory (a tied head stays tied), for students on several threads over one copy. */
export function shareStudentWeights(w: StudentWeights): StudentWeights {
  const tokenEmbd = sharedCopy(w.tokenEmbd);
  return {
    shape: w.shape,
    tokenEmbd,
    layers: w.layers.map((layer) => ({
      attnNorm: sharedCopy(layer.attnNorm),
      ffnNorm: sharedCopy(layer.ffnNorm),
      proj: Object.fromEntries(loraTargets.map((t) => [t, sharedCopy(layer.proj[t])])) as Record<LoraTarget, Float32Array>,
    })),
    outputNorm: sharedCopy(w.outputNorm),
    output: w.output === w.tokenEmbd ? tokenEmbd : sharedCopy(w.output),
  };
}

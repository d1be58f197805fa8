/** AdamW (decoupled weight decay, Loshchilov & Hutter) over a fixed list of parameter arrays. */
export interface AdamWConfig {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

export const defaultAdamW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export class AdamW {
  /** Number of updates applied so far (bias correction). */
  step = 0;
  readonly m: Float32Array[];
  readonly v: Float32Array[];

  constructor(
    private readonly params: readonly Float32Array[],
    private readonly config: AdamWConfig = defaultAdamW,
  ) {
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
  }

  update(grads: readonly Float32Array[], lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.step++;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    for (let a = 0; a < this.params.length; a++) {
      const p = this.params[a]!, g = grads[a]!, m = this.m[a]!, v = this.v[a]!;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * gi;
        v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
        p[i] = p[i]! - lr * (m[i]! / c1 / (Math.sqrt(v[i]! / c2) + eps) + weightDecay * p[i]!);
      }
    }
  }
}

/** L2 norm over all arrays. */
export function globalNorm(arrays: readonly Float32Array[]): number {
  let s = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

export function scaleArrays(arrays: readonly Float32Array[], factor: number): void {
  for (const a of arrays) for (let i = 0; i < a.length; i++) a[i] = a[i]! * factor;
}

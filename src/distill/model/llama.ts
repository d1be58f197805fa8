/**
 * Llama decoder forward and LoRA-only backward in f32, matching llama.cpp's `llama` architecture:
 * RMSNorm, RoPE on adjacent pairs (LLAMA_ROPE_TYPE_NORM; GGUF conversion permutes q/k for it), grouped-query
 * causal attention, SwiGLU MLP, tied or untied output head. Frozen weights get no gradients, so the backward
 * pass computes only activation gradients (x·W products) and the LoRA A/B gradients.
 */
import type { MatmulKernels } from "../kernels/matmul.js";
import { type LoraLayer, type LoraParams, loraScale } from "./lora.js";
import { type LoraTarget, loraTargets, targetDims } from "./shape.js";
import type { LayerWeights, StudentWeights } from "./weights.js";

/** Per-position loss on full-vocabulary logits; writes dLoss/dlogits into `grad` and returns the loss. */
export type PositionLoss = (position: number, logits: Float32Array, grad: Float32Array) => number;

export interface ForwardOptions {
  /** LoRA input dropout probability (training only). */
  readonly dropout?: number;
  /** Uniform [0,1) source for dropout masks. */
  readonly rng?: () => number;
}

interface LoraCache {
  /** LoRA input after dropout [T, in]. */
  readonly x: Float32Array;
  /** scale · A·x  [T, r] */
  readonly u: Float32Array;
}

interface LayerCache {
  readonly xIn: Float32Array;
  readonly rs1: Float32Array;
  readonly h1: Float32Array;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly att: Float32Array;
  readonly xMid: Float32Array;
  readonly rs2: Float32Array;
  readonly h2: Float32Array;
  readonly g: Float32Array;
  readonly up: Float32Array;
  readonly act: Float32Array;
  readonly lora: Partial<Record<LoraTarget, LoraCache>>;
  readonly dropoutScale: number;
  /** Dropped input indices per adapted projection (dropout). */
  readonly masks: Partial<Record<LoraTarget, Int32Array>>;
}

export interface StudentOptions {
  /** Query rows per attention block: keys beyond a block's last row are skipped (causal mask). Default 64. */
  readonly attentionBlock?: number;
}

export class LlamaStudent {
  private ropeCos = new Float32Array(0);
  private ropeSin = new Float32Array(0);
  private ropeLen = 0;

  private readonly attentionBlock: number;

  constructor(
    readonly weights: StudentWeights,
    readonly kernels: MatmulKernels,
    options: StudentOptions = {},
  ) {
    this.attentionBlock = options.attentionBlock ?? 64;
    const shape = weights.shape;
    for (const layer of weights.layers) {
      for (const t of loraTargets) {
        const d = targetDims(shape, t);
        kernels.pinFrozen?.(layer.proj[t], d.out, d.in);
      }
    }
    kernels.pinFrozen?.(weights.output, shape.vocab, shape.dim);
  }

  /** Logits [positions.length, vocab] for the given positions (all when omitted). */
  logits(tokens: ArrayLike<number>, lora: LoraParams | null, positions?: readonly number[]): Float32Array {
    const { shape } = this.weights;
    const T = tokens.length;
    let x = this.embed(tokens);
    for (let l = 0; l < shape.layers; l++) x = this.layerForward(l, x, T, lora?.layers[l] ?? null, lora, {}, false).x;
    const pos = positions ?? Array.from({ length: T }, (_, i) => i);
    const hn = this.finalNorm(x, T).h;
    const rows = new Float32Array(pos.length * shape.dim);
    pos.forEach((p, i) => rows.set(hn.subarray(p * shape.dim, (p + 1) * shape.dim), i * shape.dim));
    const out = new Float32Array(pos.length * shape.vocab);
    this.kernels.nt(rows, this.weights.output, out, pos.length, shape.vocab, shape.dim, false);
    return out;
  }

  /**
   * One forward + backward over a sequence. `lossPositions` lists the positions whose logits enter the loss;
   * LoRA gradients of the summed loss are accumulated into `grads`. Returns the summed loss.
   */
  forwardBackward(
    tokens: ArrayLike<number>,
    lora: LoraParams,
    grads: LoraParams,
    lossPositions: readonly number[],
    loss: PositionLoss,
    options: ForwardOptions = {},
  ): number {
    const { shape } = this.weights;
    const T = tokens.length;
    const D = shape.dim;
    const firstAdapted = lora.layers.findIndex((l) => l !== null);
    const caches: (LayerCache | null)[] = [];
    let x = this.embed(tokens);
    for (let l = 0; l < shape.layers; l++) {
      const keep = firstAdapted >= 0 && l >= firstAdapted;
      const r = this.layerForward(l, x, T, lora.layers[l] ?? null, lora, options, keep);
      caches.push(r.cache);
      x = r.x;
    }
    const { h: hn, rs } = this.finalNorm(x, T);

    // Output head in chunks of positions, so full-vocab logits never exist for the whole sequence at once.
    const V = shape.vocab;
    const dHn = new Float32Array(T * D);
    const chunk = 32;
    const rows = new Float32Array(chunk * D);
    const logits = new Float32Array(chunk * V);
    const dLogits = new Float32Array(chunk * V);
    const dRows = new Float32Array(chunk * D);
    let total = 0;
    for (let c = 0; c < lossPositions.length; c += chunk) {
      const pos = lossPositions.slice(c, c + chunk);
      const n = pos.length;
      pos.forEach((p, i) => rows.set(hn.subarray(p * D, (p + 1) * D), i * D));
      this.kernels.nt(rows, this.weights.output, logits, n, V, D, false);
      for (let i = 0; i < n; i++) {
        total += loss(pos[i]!, logits.subarray(i * V, (i + 1) * V), dLogits.subarray(i * V, (i + 1) * V));
      }
      this.kernels.nn(dLogits, this.weights.output, dRows, n, D, V, false);
      pos.forEach((p, i) => {
        for (let j = 0; j < D; j++) dHn[p * D + j] = dHn[p * D + j]! + dRows[i * D + j]!;
      });
    }
    let dx: Float32Array = new Float32Array(T * D);
    rmsNormBackward(x, rs, this.weights.outputNorm, dHn, dx, T, D);
    for (let l = shape.layers - 1; l >= Math.max(firstAdapted, 0); l--) {
      const cache = caches[l];
      if (cache === null || cache === undefined) break;
      dx = this.layerBackward(l, cache, dx, T, lora.layers[l] ?? null, grads.layers[l] ?? null, lora);
    }
    return total;
  }

  private embed(tokens: ArrayLike<number>): Float32Array {
    const { dim: D, vocab } = this.weights.shape;
    const x = new Float32Array(tokens.length * D);
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} outside the vocabulary (${vocab})`);
      x.set(this.weights.tokenEmbd.subarray(id * D, (id + 1) * D), t * D);
    }
    return x;
  }

  private finalNorm(x: Float32Array, T: number): { h: Float32Array; rs: Float32Array } {
    const h = new Float32Array(x.length);
    const rs = new Float32Array(T);
    rmsNorm(x, this.weights.outputNorm, h, rs, T, this.weights.shape.dim, this.weights.shape.rmsEps);
    return { h, rs };
  }

  private linear(
    target: LoraTarget,
    w: LayerWeights,
    input: Float32Array,
    out: number,
    inDim: number,
    T: number,
    lora: LoraLayer | null,
    params: LoraParams | null,
    options: ForwardOptions,
    cache: LayerCache | null,
  ): Float32Array {
    const y = new Float32Array(T * out);
    this.kernels.nt(input, w.proj[target], y, T, out, inDim, false);
    if (lora !== null && params !== null) {
      const r = params.rank;
      const s = loraScale(params);
      const p = options.dropout ?? 0;
      let xd = input;
      if (p > 0 && options.rng !== undefined) {
        xd = new Float32Array(T * inDim);
        const keep = 1 / (1 - p);
        for (let i = 0; i < xd.length; i++) xd[i] = input[i]! * keep;
        const dropped = droppedIndices(xd.length, p, options.rng);
        for (let i = 0; i < dropped.length; i++) xd[dropped[i]!] = 0;
        if (cache !== null) cache.masks[target] = dropped;
      }
      const u = new Float32Array(T * r);
      this.kernels.nt(xd, lora[target].a, u, T, r, inDim, false);
      for (let i = 0; i < u.length; i++) u[i] = u[i]! * s;
      this.kernels.nt(u, lora[target].b, y, T, out, r, true);
      if (cache !== null) cache.lora[target] = { x: xd, u };
    }
    return y;
  }

  /** dX += dY·W, and for an adapted projection also LoRA grads and the LoRA path's input gradient. */
  private linearBackward(
    target: LoraTarget,
    w: LayerWeights,
    dY: Float32Array,
    dX: Float32Array,
    out: number,
    inDim: number,
    T: number,
    lora: LoraLayer | null,
    grads: LoraLayer | null,
    params: LoraParams,
    cache: LayerCache,
    accumulate: boolean,
  ): void {
    this.kernels.nn(dY, w.proj[target], dX, T, inDim, out, accumulate);
    const lc = cache.lora[target];
    if (lora === null || grads === null || lc === undefined) return;
    const r = params.rank;
    const s = loraScale(params);
    // dB += dYᵀ·u (u already carries the scale)
    this.kernels.tn(dY, lc.u, grads[target].b, out, r, T, true);
    // du = s · dY·B
    const du = new Float32Array(T * r);
    this.kernels.nn(dY, lora[target].b, du, T, r, out, false);
    for (let i = 0; i < du.length; i++) du[i] = du[i]! * s;
    // dA += duᵀ·x_dropped
    this.kernels.tn(du, lc.x, grads[target].a, r, inDim, T, true);
    const dropped = cache.masks[target];
    if (dropped === undefined) {
      this.kernels.nn(du, lora[target].a, dX, T, inDim, r, true);
    } else {
      const dxd = new Float32Array(T * inDim);
      this.kernels.nn(du, lora[target].a, dxd, T, inDim, r, false);
      for (let i = 0; i < dropped.length; i++) dxd[dropped[i]!] = 0;
      const keep = cache.dropoutScale;
      for (let i = 0; i < dxd.length; i++) dX[i] = dX[i]! + dxd[i]! * keep;
    }
  }

  private layerForward(
    l: number,
    xIn: Float32Array,
    T: number,
    lora: LoraLayer | null,
    params: LoraParams | null,
    options: ForwardOptions,
    keep: boolean,
  ): { x: Float32Array; cache: LayerCache | null } {
    const s = this.weights.shape;
    const w = this.weights.layers[l]!;
    const D = s.dim, F = s.ffnDim, Q = s.heads * s.headDim, KV = s.kvHeads * s.headDim;
    const p = options.dropout ?? 0;
    const cache: LayerCache | null = keep
      ? ({ lora: {}, masks: {}, dropoutScale: p > 0 ? 1 / (1 - p) : 1 } as unknown as LayerCache)
      : null;
    const rs1 = new Float32Array(T);
    const h1 = new Float32Array(T * D);
    rmsNorm(xIn, w.attnNorm, h1, rs1, T, D, s.rmsEps);
    const q = this.linear("attn_q", w, h1, Q, D, T, lora, params, options, cache);
    const k = this.linear("attn_k", w, h1, KV, D, T, lora, params, options, cache);
    const v = this.linear("attn_v", w, h1, KV, D, T, lora, params, options, cache);
    this.ensureRope(T);
    this.rope(q, T, s.heads, 1);
    this.rope(k, T, s.kvHeads, 1);
    const att = new Float32Array(T * Q);
    this.attention(q, k, v, att, T, null);
    const o = this.linear("attn_output", w, att, D, Q, T, lora, params, options, cache);
    const xMid = new Float32Array(T * D);
    for (let i = 0; i < xMid.length; i++) xMid[i] = xIn[i]! + o[i]!;
    const rs2 = new Float32Array(T);
    const h2 = new Float32Array(T * D);
    rmsNorm(xMid, w.ffnNorm, h2, rs2, T, D, s.rmsEps);
    const g = this.linear("ffn_gate", w, h2, F, D, T, lora, params, options, cache);
    const up = this.linear("ffn_up", w, h2, F, D, T, lora, params, options, cache);
    const act = new Float32Array(T * F);
    for (let i = 0; i < act.length; i++) {
      const gi = g[i]!;
      act[i] = (gi / (1 + Math.exp(-gi))) * up[i]!;
    }
    const d = this.linear("ffn_down", w, act, D, F, T, lora, params, options, cache);
    const xOut = new Float32Array(T * D);
    for (let i = 0; i < xOut.length; i++) xOut[i] = xMid[i]! + d[i]!;
    if (cache !== null) Object.assign(cache, { xIn, rs1, h1, q, k, v, att, xMid, rs2, h2, g, up, act });
    return { x: xOut, cache };
  }

  private layerBackward(
    l: number,
    c: LayerCache,
    dxOut: Float32Array,
    T: number,
    lora: LoraLayer | null,
    grads: LoraLayer | null,
    params: LoraParams,
  ): Float32Array {
    const s = this.weights.shape;
    const w = this.weights.layers[l]!;
    const D = s.dim, F = s.ffnDim, Q = s.heads * s.headDim, KV = s.kvHeads * s.headDim;
    // MLP
    const dAct = new Float32Array(T * F);
    this.linearBackward("ffn_down", w, dxOut, dAct, D, F, T, lora, grads, params, c, false);
    const dG = new Float32Array(T * F);
    const dUp = new Float32Array(T * F);
    for (let i = 0; i < dG.length; i++) {
      const gi = c.g[i]!;
      const sig = 1 / (1 + Math.exp(-gi));
      dUp[i] = dAct[i]! * gi * sig;
      dG[i] = dAct[i]! * c.up[i]! * sig * (1 + gi * (1 - sig));
    }
    const dH2 = new Float32Array(T * D);
    this.linearBackward("ffn_gate", w, dG, dH2, F, D, T, lora, grads, params, c, false);
    this.linearBackward("ffn_up", w, dUp, dH2, F, D, T, lora, grads, params, c, true);
    const dxMid = Float32Array.from(dxOut);
    rmsNormBackward(c.xMid, c.rs2, w.ffnNorm, dH2, dxMid, T, D);
    // Attention
    const dAtt = new Float32Array(T * Q);
    this.linearBackward("attn_output", w, dxMid, dAtt, D, Q, T, lora, grads, params, c, false);
    const dq = new Float32Array(T * Q);
    const dk = new Float32Array(T * KV);
    const dv = new Float32Array(T * KV);
    this.attention(c.q, c.k, c.v, dAtt, T, { dq, dk, dv });
    this.rope(dq, T, s.heads, -1);
    this.rope(dk, T, s.kvHeads, -1);
    const dH1 = new Float32Array(T * D);
    this.linearBackward("attn_q", w, dq, dH1, Q, D, T, lora, grads, params, c, false);
    this.linearBackward("attn_k", w, dk, dH1, KV, D, T, lora, grads, params, c, true);
    this.linearBackward("attn_v", w, dv, dH1, KV, D, T, lora, grads, params, c, true);
    const dxIn = dxMid;
    rmsNormBackward(c.xIn, c.rs1, w.attnNorm, dH1, dxIn, T, D);
    return dxIn;
  }

  /**
   * Causal GQA attention through the matmul kernels, one head at a time and in blocks of query rows: rows
   * [r0, r1) attend to keys [0, r1) only, so the masked upper triangle is (mostly) never computed.
   * Forward (grads = null): out += softmax(QKᵀ/√d, causal)·V. Backward: `out` is dOut; P is recomputed and
   * dq, dk, dv are accumulated.
   */
  private attention(
    q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, T: number,
    grads: { dq: Float32Array; dk: Float32Array; dv: Float32Array } | null,
  ): void {
    const { heads: H, kvHeads: KVH, headDim: hd } = this.weights.shape;
    const group = H / KVH;
    const scale = 1 / Math.sqrt(hd);
    const K = this.kernels;
    const B = this.attentionBlock;
    const qh = new Float32Array(T * hd), kh = new Float32Array(T * hd), vh = new Float32Array(T * hd);
    const p = new Float32Array(B * T);
    const oh = new Float32Array(T * hd);
    const dP = grads ? new Float32Array(B * T) : p;
    const dkh = new Float32Array(T * hd), dvh = new Float32Array(T * hd), dqh = new Float32Array(T * hd);
    for (let g = 0; g < KVH; g++) {
      gatherHead(k, kh, T, KVH, g, hd);
      gatherHead(v, vh, T, KVH, g, hd);
      if (grads) { dkh.fill(0); dvh.fill(0); }
      for (let h = g * group; h < (g + 1) * group; h++) {
        gatherHead(q, qh, T, H, h, hd);
        if (grads) gatherHead(out, oh, T, H, h, hd); // dOut of this head
        for (let r0 = 0; r0 < T; r0 += B) {
          const r1 = Math.min(T, r0 + B);
          const rows = r1 - r0;
          const qb = qh.subarray(r0 * hd, r1 * hd);
          const kb = kh.subarray(0, r1 * hd), vb = vh.subarray(0, r1 * hd);
          // p [rows, r1]: row i is query position r0 + i over keys 0…r1−1
          K.nt(qb, kb, p, rows, r1, hd, false);
          for (let i = 0; i < rows; i++) {
            const t = r0 + i, row = i * r1;
            let max = -Infinity;
            for (let s = 0; s <= t; s++) {
              const x = p[row + s]! * scale;
              p[row + s] = x;
              if (x > max) max = x;
            }
            let sum = 0;
            for (let s = 0; s <= t; s++) {
              const e = Math.exp(p[row + s]! - max);
              p[row + s] = e;
              sum += e;
            }
            const inv = 1 / sum;
            for (let s = 0; s <= t; s++) p[row + s] = p[row + s]! * inv;
            p.fill(0, row + t + 1, row + r1);
          }
          if (grads === null) {
            K.nn(p, vb, oh.subarray(r0 * hd, r1 * hd), rows, hd, r1, false);
            continue;
          }
          const dOb = oh.subarray(r0 * hd, r1 * hd);
          K.tn(p, dOb, dvh.subarray(0, r1 * hd), r1, hd, rows, true); // dV += Pᵀ·dO
          K.nt(dOb, vb, dP, rows, r1, hd, false); // dP = dO·Vᵀ
          for (let i = 0; i < rows; i++) {
            const t = r0 + i, row = i * r1;
            let dot = 0;
            for (let s = 0; s <= t; s++) dot += p[row + s]! * dP[row + s]!;
            for (let s = 0; s <= t; s++) dP[row + s] = p[row + s]! * (dP[row + s]! - dot) * scale;
            dP.fill(0, row + t + 1, row + r1);
          }
          K.nn(dP, kb, dqh.subarray(r0 * hd, r1 * hd), rows, hd, r1, false); // dQ = dS·K
          K.tn(dP, qb, dkh.subarray(0, r1 * hd), r1, hd, rows, true); // dK += dSᵀ·Q
        }
        if (grads === null) scatterHead(oh, out, T, H, h, hd, true);
        else scatterHead(dqh, grads.dq, T, H, h, hd, true);
      }
      if (grads) {
        scatterHead(dkh, grads.dk, T, KVH, g, hd, true);
        scatterHead(dvh, grads.dv, T, KVH, g, hd, true);
      }
    }
  }

  private ensureRope(T: number): void {
    if (this.ropeLen >= T) return;
    const { headDim, ropeBase } = this.weights.shape;
    const half = headDim / 2;
    const cos = new Float32Array(T * half);
    const sin = new Float32Array(T * half);
    for (let p = 0; p < T; p++) {
      for (let i = 0; i < half; i++) {
        const theta = p * Math.pow(ropeBase, (-2 * i) / headDim);
        cos[p * half + i] = Math.cos(theta);
        sin[p * half + i] = Math.sin(theta);
      }
    }
    this.ropeCos = cos;
    this.ropeSin = sin;
    this.ropeLen = T;
  }

  /** Rotates adjacent pairs (2i, 2i+1) of every head by ±θ(pos, i); direction −1 is the transpose (backward). */
  private rope(x: Float32Array, T: number, heads: number, direction: 1 | -1): void {
    const hd = this.weights.shape.headDim;
    const half = hd / 2;
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * hd;
        for (let i = 0; i < half; i++) {
          const c = this.ropeCos[t * half + i]!;
          const sn = this.ropeSin[t * half + i]! * direction;
          const a = x[base + 2 * i]!, b = x[base + 2 * i + 1]!;
          x[base + 2 * i] = a * c - b * sn;
          x[base + 2 * i + 1] = a * sn + b * c;
        }
      }
    }
  }
}

/**
 * Indices an i.i.d. Bernoulli(p) dropout zeroes among n inputs, drawn as geometric gaps between drops: one
 * random number per dropped element (≈ p·n) instead of one per element, with the same distribution.
 */
export function droppedIndices(n: number, p: number, rng: () => number): Int32Array {
  const logKeep = Math.log1p(-p);
  const out: number[] = [];
  for (let i = Math.floor(Math.log1p(-rng()) / logKeep); i < n; i += 1 + Math.floor(Math.log1p(-rng()) / logKeep)) out.push(i);
  return Int32Array.from(out);
}

export function rmsNorm(x: Float32Array, w: Float32Array, out: Float32Array, rs: Float32Array, T: number, D: number, eps: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[o + j]! * x[o + j]!;
    const r = 1 / Math.sqrt(ss / D + eps);
    rs[t] = r;
    for (let j = 0; j < D; j++) out[o + j] = x[o + j]! * r * w[j]!;
  }
}

/** dx += d(rmsnorm(x)·w)/dx · dy */
export function rmsNormBackward(x: Float32Array, rs: Float32Array, w: Float32Array, dy: Float32Array, dx: Float32Array, T: number, D: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    const r = rs[t]!;
    let dot = 0;
    for (let j = 0; j < D; j++) dot += dy[o + j]! * w[j]! * x[o + j]!;
    const c = (r * r * r * dot) / D;
    for (let j = 0; j < D; j++) dx[o + j] = dx[o + j]! + r * dy[o + j]! * w[j]! - c * x[o + j]!;
  }
}

/** dst[t, :] = src[t, head, :] for a [T, heads·hd] tensor. */
function gatherHead(src: Float32Array, dst: Float32Array, T: number, heads: number, head: number, hd: number): void {
  for (let t = 0; t < T; t++) dst.set(src.subarray((t * heads + head) * hd, (t * heads + head + 1) * hd), t * hd);
}

function scatterHead(src: Float32Array, dst: Float32Array, T: number, heads: number, head: number, hd: number, add: boolean): void {
  for (let t = 0; t < T; t++) {
    const o = (t * heads + head) * hd;
    if (add) for (let i = 0; i < hd; i++) dst[o + i] = dst[o + i]! + src[t * hd + i]!;
    else dst.set(src.subarray(t * hd, (t + 1) * hd), o);
  }
}

export { loraTargets };

/**
 * Llama decoder forward and LoRA-only backward in f32, matching llama.cpp's `llama` architecture:
 * RMSNorm, RoPE on adjacent pairs (LLAMA_ROPE_TYPE_NORM; GGUF conversion permutes q/k for it), grouped-query
 * causal attention, SwiGLU MLP, tied or untied output head. Frozen weights get no gradients, so the backward
 * pass computes only activation gradients (x·W products) and the LoRA A/B gradients.
 */
import type { MatmulKernels } from "../kernels/matmul.js";
import { type LoraLayer, type LoraParams, loraScale } from "./lora.js";
import { type LoraTarget, loraTargets } from "./shape.js";
import type { StudentWeights } from "./weights.js";

/** Per-position loss on full-vocabulary logits; writes dLoss/dlogits into `grad` and returns the loss. */
export type PositionLoss = (position: number, logits: Float32Array, grad: Float32Array) => number;

export interface ForwardOptions {
  /** LoRA input dropout probability (training only). */
  readonly dropout?: number;
  /** Uniform [0,1) source for dropout masks. */
  readonly rng?: () => number;
}

interface LoraCache {
  /** LoRA input before dropout [T, in] (the layer's own activation, not a copy). */
  readonly x: Float32Array;
  /** scale · A·x_dropped  [T, r] */
  readonly u: Float32Array;
  /** Flat indices of the inputs dropout zeroed (sorted); undefined without dropout. */
  readonly dropped: Int32Array | undefined;
  /** 1 / (1 − p) with dropout, else 1. */
  readonly keep: number;
}

/** A layer's projections that read the same input, concatenated [Σout, in] so each pair/triple is one product. */
export interface FusedLayerWeights {
  /** attn_q | attn_k | attn_v */
  readonly qkv: Float32Array;
  /** ffn_gate | ffn_up */
  readonly gateUp: Float32Array;
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
  /** sigmoid(g), kept so the SwiGLU backward needs no second exp */
  readonly sig: Float32Array;
  readonly lora: Partial<Record<LoraTarget, LoraCache>>;
}

export interface StudentOptions {
  /** Query rows per attention block: keys beyond a block's last row are skipped (causal mask). Default 64. */
  readonly attentionBlock?: number;
  /**
   * The fused projections of another student over the same weights (`fusedWeights`), so students on several
   * threads share one copy instead of concatenating their own.
   */
  readonly fused?: readonly FusedLayerWeights[];
}

export class LlamaStudent {
  private ropeCos = new Float32Array(0);
  private ropeSin = new Float32Array(0);
  private ropeLen = 0;

  readonly attentionBlock: number;
  private readonly fused: readonly FusedLayerWeights[];
  /** The fused q|k|v and gate|up matrices per layer (shared memory when the weights are). */
  get fusedWeights(): readonly FusedLayerWeights[] {
    return this.fused;
  }
  /** Temporaries reused across layers and steps (hundreds of MB of garbage per step otherwise). */
  private readonly scratchBuffers = new Map<string, Float32Array>();

  constructor(
    readonly weights: StudentWeights,
    readonly kernels: MatmulKernels,
    options: StudentOptions = {},
  ) {
    this.attentionBlock = options.attentionBlock ?? 64;
    const shape = weights.shape;
    const { dim: D, ffnDim: F } = shape;
    const Q = shape.heads * shape.headDim, KV = shape.kvHeads * shape.headDim;
    // Fewer, larger products: one input copy and one thread hand-off instead of three (q, k, v) or two (gate, up).
    this.fused = weights.layers.map((layer, l) => {
      const f = options.fused?.[l] ?? {
        qkv: concatRows([layer.proj.attn_q, layer.proj.attn_k, layer.proj.attn_v]),
        gateUp: concatRows([layer.proj.ffn_gate, layer.proj.ffn_up]),
      };
      kernels.pinFrozen?.(f.qkv, Q + 2 * KV, D);
      kernels.pinFrozen?.(f.gateUp, 2 * F, D);
      kernels.pinFrozen?.(layer.proj.attn_output, D, Q);
      kernels.pinFrozen?.(layer.proj.ffn_down, D, F);
      return f;
    });
    kernels.pinFrozen?.(weights.output, shape.vocab, shape.dim);
  }

  /**
   * A reusable [n] buffer for a temporary that never outlives the call using it (contents undefined unless
   * `zero`). Distinct names for buffers that are live at the same time.
   */
  private scratch(name: string, n: number, zero = false): Float32Array {
    let buf = this.scratchBuffers.get(name);
    if (buf === undefined || buf.length < n) {
      buf = new Float32Array(n);
      this.scratchBuffers.set(name, buf);
      return buf.subarray(0, n);
    }
    const view = buf.subarray(0, n);
    if (zero) view.fill(0);
    return view;
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
    const rows = this.scratch("head.rows", chunk * D);
    const logits = this.scratch("head.logits", chunk * V);
    const dLogits = this.scratch("head.dLogits", chunk * V);
    const dRows = this.scratch("head.dRows", chunk * D);
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

  /**
   * y += scale·B·(A·x_dropped), x_dropped = x with dropout's inputs zeroed. Dropout is applied by subtracting
   * the dropped inputs' contributions (≈ p of them, r multiply-adds each) from A·x instead of materialising a
   * masked copy of x per projection.
   */
  private addLora(
    target: LoraTarget,
    input: Float32Array,
    y: Float32Array,
    out: number,
    inDim: number,
    T: number,
    lora: LoraLayer | null,
    params: LoraParams | null,
    options: ForwardOptions,
    cache: LayerCache | null,
  ): void {
    if (lora === null || params === null) return;
    const r = params.rank;
    const a = lora[target].a;
    const u = new Float32Array(T * r);
    this.kernels.nt(input, a, u, T, r, inDim, false);
    const p = options.dropout ?? 0;
    let dropped: Int32Array | undefined;
    let keep = 1;
    if (p > 0 && options.rng !== undefined) {
      keep = 1 / (1 - p);
      dropped = droppedIndices(T * inDim, p, options.rng);
      for (let d = 0; d < dropped.length; d++) {
        const idx = dropped[d]!;
        const xv = input[idx]!;
        if (xv === 0) continue;
        const t = (idx / inDim) | 0;
        const i = idx - t * inDim;
        for (let j = 0, o = t * r; j < r; j++) u[o + j] = u[o + j]! - a[j * inDim + i]! * xv;
      }
    }
    const scale = loraScale(params) * keep;
    for (let i = 0; i < u.length; i++) u[i] = u[i]! * scale;
    this.kernels.nt(u, lora[target].b, y, T, out, r, true);
    if (cache !== null) cache.lora[target] = { x: input, u, dropped, keep };
  }

  /** LoRA A/B gradients of an adapted projection and its path's input gradient, accumulated into dX. */
  private loraBackward(
    target: LoraTarget,
    dY: Float32Array,
    dX: Float32Array,
    out: number,
    inDim: number,
    T: number,
    lora: LoraLayer | null,
    grads: LoraLayer | null,
    params: LoraParams,
    cache: LayerCache,
  ): void {
    const lc = cache.lora[target];
    if (lora === null || grads === null || lc === undefined) return;
    const r = params.rank;
    const a = lora[target].a;
    const gA = grads[target].a;
    // dB += dYᵀ·u (u already carries the scale)
    this.kernels.tn(dY, lc.u, grads[target].b, out, r, T, true);
    // du = scale · dY·B, with dropout's 1/(1−p) folded in so x (not x_dropped) can be used below
    const du = new Float32Array(T * r);
    this.kernels.nn(dY, lora[target].b, du, T, r, out, false);
    const scale = loraScale(params) * lc.keep;
    for (let i = 0; i < du.length; i++) du[i] = du[i]! * scale;
    // dA += duᵀ·x_dropped and dX += du·A at kept inputs: full products, then the dropped inputs taken back out
    this.kernels.tn(du, lc.x, gA, r, inDim, T, true);
    this.kernels.nn(du, a, dX, T, inDim, r, true);
    const dropped = lc.dropped;
    if (dropped === undefined) return;
    for (let d = 0; d < dropped.length; d++) {
      const idx = dropped[d]!;
      const xv = lc.x[idx]!;
      const t = (idx / inDim) | 0;
      const i = idx - t * inDim;
      let back = 0;
      for (let j = 0, o = t * r; j < r; j++) {
        const g = du[o + j]!;
        gA[j * inDim + i] = gA[j * inDim + i]! - g * xv;
        back += g * a[j * inDim + i]!;
      }
      dX[idx] = dX[idx]! - back;
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
    const f = this.fused[l]!;
    const cache: LayerCache | null = keep ? ({ lora: {} } as unknown as LayerCache) : null;
    const rs1 = new Float32Array(T);
    const h1 = new Float32Array(T * D);
    rmsNorm(xIn, w.attnNorm, h1, rs1, T, D, s.rmsEps);
    const qkv = this.scratch("fwd.qkv", T * (Q + 2 * KV));
    this.kernels.nt(h1, f.qkv, qkv, T, Q + 2 * KV, D, false);
    const q = sliceColumns(qkv, T, Q + 2 * KV, 0, Q);
    const k = sliceColumns(qkv, T, Q + 2 * KV, Q, KV);
    const v = sliceColumns(qkv, T, Q + 2 * KV, Q + KV, KV);
    this.addLora("attn_q", h1, q, Q, D, T, lora, params, options, cache);
    this.addLora("attn_k", h1, k, KV, D, T, lora, params, options, cache);
    this.addLora("attn_v", h1, v, KV, D, T, lora, params, options, cache);
    this.ensureRope(T);
    this.rope(q, T, s.heads, 1);
    this.rope(k, T, s.kvHeads, 1);
    const att = new Float32Array(T * Q);
    this.attention(q, k, v, att, T, null);
    const xMid = new Float32Array(T * D);
    this.kernels.nt(att, w.proj.attn_output, xMid, T, D, Q, false);
    this.addLora("attn_output", att, xMid, D, Q, T, lora, params, options, cache);
    for (let i = 0; i < xMid.length; i++) xMid[i] = xIn[i]! + xMid[i]!;
    const rs2 = new Float32Array(T);
    const h2 = new Float32Array(T * D);
    rmsNorm(xMid, w.ffnNorm, h2, rs2, T, D, s.rmsEps);
    const gu = this.scratch("fwd.gateUp", T * 2 * F);
    this.kernels.nt(h2, f.gateUp, gu, T, 2 * F, D, false);
    const g = sliceColumns(gu, T, 2 * F, 0, F);
    const up = sliceColumns(gu, T, 2 * F, F, F);
    this.addLora("ffn_gate", h2, g, F, D, T, lora, params, options, cache);
    this.addLora("ffn_up", h2, up, F, D, T, lora, params, options, cache);
    const act = new Float32Array(T * F);
    const sig = new Float32Array(T * F);
    for (let i = 0; i < act.length; i++) {
      const gi = g[i]!;
      const si = 1 / (1 + Math.exp(-gi));
      sig[i] = si;
      act[i] = gi * si * up[i]!;
    }
    const xOut = new Float32Array(T * D);
    this.kernels.nt(act, w.proj.ffn_down, xOut, T, D, F, false);
    this.addLora("ffn_down", act, xOut, D, F, T, lora, params, options, cache);
    for (let i = 0; i < xOut.length; i++) xOut[i] = xMid[i]! + xOut[i]!;
    if (cache !== null) Object.assign(cache, { xIn, rs1, h1, q, k, v, att, xMid, rs2, h2, g, up, act, sig });
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
    const f = this.fused[l]!;
    // MLP
    const dAct = this.scratch("bwd.dAct", T * F);
    this.kernels.nn(dxOut, w.proj.ffn_down, dAct, T, F, D, false);
    this.loraBackward("ffn_down", dxOut, dAct, D, F, T, lora, grads, params, c);
    const dG = this.scratch("bwd.dG", T * F);
    const dUp = this.scratch("bwd.dUp", T * F);
    const dGU = this.scratch("bwd.dGU", T * 2 * F);
    for (let t = 0; t < T; t++) {
      for (let j = 0, i = t * F, o = 2 * t * F; j < F; j++, i++) {
        const gi = c.g[i]!;
        const sig = c.sig[i]!;
        const du = dAct[i]! * gi * sig;
        const dg = dAct[i]! * c.up[i]! * sig * (1 + gi * (1 - sig));
        dUp[i] = du;
        dG[i] = dg;
        dGU[o + j] = dg;
        dGU[o + F + j] = du;
      }
    }
    const dH2 = this.scratch("bwd.dH2", T * D);
    this.kernels.nn(dGU, f.gateUp, dH2, T, D, 2 * F, false);
    this.loraBackward("ffn_gate", dG, dH2, F, D, T, lora, grads, params, c);
    this.loraBackward("ffn_up", dUp, dH2, F, D, T, lora, grads, params, c);
    const dxMid = Float32Array.from(dxOut);
    rmsNormBackward(c.xMid, c.rs2, w.ffnNorm, dH2, dxMid, T, D);
    // Attention
    const dAtt = this.scratch("bwd.dAtt", T * Q);
    this.kernels.nn(dxMid, w.proj.attn_output, dAtt, T, Q, D, false);
    this.loraBackward("attn_output", dxMid, dAtt, D, Q, T, lora, grads, params, c);
    const dq = this.scratch("bwd.dq", T * Q, true);
    const dk = this.scratch("bwd.dk", T * KV, true);
    const dv = this.scratch("bwd.dv", T * KV, true);
    this.attention(c.q, c.k, c.v, dAtt, T, { dq, dk, dv });
    this.rope(dq, T, s.heads, -1);
    this.rope(dk, T, s.kvHeads, -1);
    const dQKV = this.scratch("bwd.dQKV", T * (Q + 2 * KV));
    setColumns(dQKV, T, Q + 2 * KV, 0, dq, Q);
    setColumns(dQKV, T, Q + 2 * KV, Q, dk, KV);
    setColumns(dQKV, T, Q + 2 * KV, Q + KV, dv, KV);
    const dH1 = this.scratch("bwd.dH1", T * D);
    this.kernels.nn(dQKV, f.qkv, dH1, T, D, Q + 2 * KV, false);
    this.loraBackward("attn_q", dq, dH1, Q, D, T, lora, grads, params, c);
    this.loraBackward("attn_k", dk, dH1, KV, D, T, lora, grads, params, c);
    this.loraBackward("attn_v", dv, dH1, KV, D, T, lora, grads, params, c);
    const dxIn = dxMid;
    rmsNormBackward(c.xIn, c.rs1, w.attnNorm, dH1, dxIn, T, D);
    return dxIn;
  }

  /**
   * Causal GQA attention through the matmul kernels, one KV head at a time and in blocks of query rows: rows
   * [r0, r1) attend to keys [0, r1) only, so the masked upper triangle is (mostly) never computed. The query heads
   * sharing a KV head are stacked into one product per block (rows hh·rows + i = head hh, position r0 + i): a
   * third of the calls and key transposes, and products large enough to split across threads.
   * Forward (grads = null): out = softmax(QKᵀ/√d, causal)·V. Backward: `out` is dOut; P is recomputed and
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
    const kh = this.scratch("att.k", T * hd), vh = this.scratch("att.v", T * hd);
    const qb = this.scratch("att.q", group * B * hd);
    const ob = this.scratch("att.o", group * B * hd); // forward: output rows; backward: dOut rows
    const p = this.scratch("att.p", group * B * T);
    const dP = grads ? this.scratch("att.dP", group * B * T) : p;
    const dqb = grads ? this.scratch("att.dq", group * B * hd) : ob;
    const dkh = this.scratch("att.dk", grads ? T * hd : 0), dvh = this.scratch("att.dv", grads ? T * hd : 0);
    for (let g = 0; g < KVH; g++) {
      gatherHead(k, kh, T, KVH, g, hd);
      gatherHead(v, vh, T, KVH, g, hd);
      if (grads) { dkh.fill(0); dvh.fill(0); }
      for (let r0 = 0; r0 < T; r0 += B) {
        const r1 = Math.min(T, r0 + B);
        const rows = r1 - r0;
        const M = group * rows;
        for (let hh = 0; hh < group; hh++) gatherRows(q, H, g * group + hh, hd, r0, r1, qb, hh * rows);
        const qs = qb.subarray(0, M * hd);
        const kb = kh.subarray(0, r1 * hd), vb = vh.subarray(0, r1 * hd);
        // pp [M, r1]: row hh·rows + i is query position r0 + i of head hh over keys 0…r1−1
        const pp = p.subarray(0, M * r1);
        K.nt(qs, kb, pp, M, r1, hd, false);
        for (let ri = 0; ri < M; ri++) {
          const t = r0 + (ri % rows), row = ri * r1;
          let max = -Infinity;
          for (let s = 0; s <= t; s++) {
            const x = pp[row + s]! * scale;
            pp[row + s] = x;
            if (x > max) max = x;
          }
          let sum = 0;
          for (let s = 0; s <= t; s++) {
            const e = Math.exp(pp[row + s]! - max);
            pp[row + s] = e;
            sum += e;
          }
          const inv = 1 / sum;
          for (let s = 0; s <= t; s++) pp[row + s] = pp[row + s]! * inv;
          pp.fill(0, row + t + 1, row + r1);
        }
        const os = ob.subarray(0, M * hd);
        if (grads === null) {
          K.nn(pp, vb, os, M, hd, r1, false);
          for (let hh = 0; hh < group; hh++) scatterRows(os, hh * rows, out, H, g * group + hh, hd, r0, r1);
          continue;
        }
        for (let hh = 0; hh < group; hh++) gatherRows(out, H, g * group + hh, hd, r0, r1, ob, hh * rows);
        const dPp = dP.subarray(0, M * r1);
        K.tn(pp, os, dvh.subarray(0, r1 * hd), r1, hd, M, true); // dV += Pᵀ·dO
        K.nt(os, vb, dPp, M, r1, hd, false); // dP = dO·Vᵀ
        for (let ri = 0; ri < M; ri++) {
          const t = r0 + (ri % rows), row = ri * r1;
          let dot = 0;
          for (let s = 0; s <= t; s++) dot += pp[row + s]! * dPp[row + s]!;
          for (let s = 0; s <= t; s++) dPp[row + s] = pp[row + s]! * (dPp[row + s]! - dot) * scale;
          dPp.fill(0, row + t + 1, row + r1);
        }
        const dqs = dqb.subarray(0, M * hd);
        K.nn(dPp, kb, dqs, M, hd, r1, false); // dQ = dS·K
        for (let hh = 0; hh < group; hh++) scatterRows(dqs, hh * rows, grads.dq, H, g * group + hh, hd, r0, r1);
        K.tn(dPp, qs, dkh.subarray(0, r1 * hd), r1, hd, M, true); // dK += dSᵀ·Q
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

/** Rows of all matrices stacked: [Σrows, cols]. */
function concatRows(parts: readonly Float32Array[]): Float32Array {
  const n = parts.reduce((sum, p) => sum + p.length, 0);
  // Shared weights give shared fused copies, so other threads' students can use them too.
  const out = parts[0]?.buffer instanceof SharedArrayBuffer ? new Float32Array(new SharedArrayBuffer(4 * n)) : new Float32Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Columns [c0, c0 + w) of a [T, n] matrix as a new [T, w] matrix. */
function sliceColumns(src: Float32Array, T: number, n: number, c0: number, w: number): Float32Array {
  const out = new Float32Array(T * w);
  for (let t = 0; t < T; t++) out.set(src.subarray(t * n + c0, t * n + c0 + w), t * w);
  return out;
}

/** Columns [c0, c0 + w) of dst [T, n] = src [T, w]. */
function setColumns(dst: Float32Array, T: number, n: number, c0: number, src: Float32Array, w: number): void {
  for (let t = 0; t < T; t++) dst.set(src.subarray(t * w, (t + 1) * w), t * n + c0);
}

/** dst[at + i, :] = src[r0 + i, head, :] for i < r1 − r0, from a [T, heads·hd] tensor into a [rows, hd] one. */
function gatherRows(src: Float32Array, heads: number, head: number, hd: number, r0: number, r1: number, dst: Float32Array, at: number): void {
  for (let t = r0; t < r1; t++) dst.set(src.subarray((t * heads + head) * hd, (t * heads + head + 1) * hd), (at + t - r0) * hd);
}

/** dst[r0 + i, head, :] = src[at + i, :]: the inverse of gatherRows. */
function scatterRows(src: Float32Array, at: number, dst: Float32Array, heads: number, head: number, hd: number, r0: number, r1: number): void {
  for (let t = r0; t < r1; t++) dst.set(src.subarray((at + t - r0) * hd, (at + t - r0 + 1) * hd), (t * heads + head) * hd);
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

/** Distribution-level agreement between two logit rows (engine vs trainer). */
export interface LogitAgreement {
  readonly maxAbsDiff: number;
  /** KL(softmax(ref) ‖ softmax(ours)) in nats. */
  readonly kl: number;
  readonly sameArgmax: boolean;
  readonly correlation: number;
}

export function compareLogits(ours: Float32Array, ref: Float32Array): LogitAgreement {
  const n = ref.length;
  let maxAbsDiff = 0, am = 0, bm = 0;
  let ma = -Infinity, mb = -Infinity;
  let sa = 0, sb = 0;
  for (let i = 0; i < n; i++) {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ours[i]! - ref[i]!));
    if (ours[i]! > ours[am]!) am = i;
    if (ref[i]! > ref[bm]!) bm = i;
    ma = Math.max(ma, ours[i]!); mb = Math.max(mb, ref[i]!);
    sa += ours[i]!; sb += ref[i]!;
  }
  let za = 0, zb = 0;
  for (let i = 0; i < n; i++) { za += Math.exp(ours[i]! - ma); zb += Math.exp(ref[i]! - mb); }
  const la = Math.log(za) + ma, lb = Math.log(zb) + mb;
  let kl = 0;
  const mA = sa / n, mB = sb / n;
  let cov = 0, va = 0, vb = 0;
  for (let i = 0; i < n; i++) {
    const lpb = ref[i]! - lb;
    kl += Math.exp(lpb) * (lpb - (ours[i]! - la));
    const da = ours[i]! - mA, db = ref[i]! - mB;
    cov += da * db; va += da * da; vb += db * db;
  }
  return { maxAbsDiff, kl, sameArgmax: am === bm, correlation: cov / Math.sqrt(va * vb) };
}

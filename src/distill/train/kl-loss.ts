/**
 * Distillation loss for one position: KL(p_teacher ‖ p_student) · T², where p_teacher is the teacher's stored
 * top-k logits renormalised at temperature T and p_student is the student's full-vocabulary softmax at T.
 * d/dz_j = T · (p_student_j − p_teacher_j)  (p_teacher is 0 outside the top-k).
 */
export function topKDistillLoss(
  logits: Float32Array,
  teacherIds: ArrayLike<number>,
  teacherLogits: ArrayLike<number>,
  temperature: number,
  grad: Float32Array | null,
): number {
  const V = logits.length;
  const k = teacherIds.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  // One exp per vocabulary entry: the unnormalised student probabilities go into grad (or are recomputed
  // below only when no grad buffer is given).
  let z = 0;
  const invT = 1 / temperature;
  if (grad !== null) {
    for (let i = 0; i < V; i++) {
      const e = Math.exp((logits[i]! - max) * invT);
      grad[i] = e;
      z += e;
    }
  } else {
    for (let i = 0; i < V; i++) z += Math.exp((logits[i]! - max) * invT);
  }
  const logZ = Math.log(z);
  let tmax = -Infinity;
  for (let j = 0; j < k; j++) if (teacherLogits[j]! > tmax) tmax = teacherLogits[j]!;
  let tz = 0;
  for (let j = 0; j < k; j++) tz += Math.exp((teacherLogits[j]! - tmax) / temperature);
  const tLogZ = Math.log(tz);
  let kl = 0;
  if (grad !== null) {
    const c = temperature / z;
    for (let i = 0; i < V; i++) grad[i] = grad[i]! * c;
  }
  for (let j = 0; j < k; j++) {
    const id = teacherIds[j]!;
    const logPt = (teacherLogits[j]! - tmax) / temperature - tLogZ;
    const logPs = (logits[id]! - max) / temperature - logZ;
    const pt = Math.exp(logPt);
    kl += pt * (logPt - logPs);
    if (grad !== null) grad[id] = grad[id]! - temperature * pt;
  }
  return kl * temperature * temperature;
}

/**
 * Learning rate at optimizer step `step` (0-based): linear warmup over min(50, 10% of steps) — the paper's
 * rule — then linear decay to zero (Hugging Face Trainer's default schedule, which the paper's runs used).
 */
export function warmupSteps(totalSteps: number): number {
  return Math.min(50, Math.ceil(totalSteps * 0.1));
}

export function learningRate(step: number, totalSteps: number, peak: number): number {
  const warm = warmupSteps(totalSteps);
  if (step < warm) return (peak * (step + 1)) / warm;
  const rest = Math.max(1, totalSteps - warm);
  return peak * Math.max(0, 1 - (step - warm) / rest);
}

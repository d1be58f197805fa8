/** Reference logits from node-llama-cpp (the engine the gateway serves with) for forward-equivalence tests. */
import { type ControlledEvaluateInputItem, type Token, getLlama } from "node-llama-cpp";
import { TEST_THREADS } from "../helpers/llama.js";

export async function engineLogits(modelPath: string, tokens: readonly number[], vocab: number): Promise<Float32Array[]> {
  const llama = await getLlama({ gpu: false, maxThreads: TEST_THREADS, build: "never" });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: 256, threads: TEST_THREADS });
  try {
    const sequence = context.getSequence();
    const input: ControlledEvaluateInputItem[] = tokens.map((t) => [t as Token, { generateNext: { logits: true } }]);
    const out = await sequence.controlledEvaluate(input);
    return out.map((r, i) => {
      const logits = r?.next.logits;
      if (logits === undefined) throw new Error(`no logits for position ${i}`);
      const row = new Float32Array(vocab);
      for (const [tok, v] of logits) row[tok] = v;
      return row;
    });
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

import { DistillError } from "../../errors.js";
import { type MatmulKernels, jsKernels } from "./matmul.js";

export type { MatmulKernels } from "./matmul.js";
export { jsKernels } from "./matmul.js";

/** Picks the matmul kernels: `auto` = WebAssembly SIMD when available, else JavaScript. */
export async function createKernels(kind: "auto" | "wasm" | "js", threads: number): Promise<MatmulKernels> {
  void threads;
  if (kind === "js") return jsKernels;
  if (kind === "wasm") throw new DistillError("WebAssembly kernels are not available in this build");
  return jsKernels;
}

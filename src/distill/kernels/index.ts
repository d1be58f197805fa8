import { type MatmulKernels, jsKernels } from "./matmul.js";
import { WasmKernels } from "./wasm.js";

export type { MatmulKernels } from "./matmul.js";
export { jsKernels } from "./matmul.js";
export { WasmKernels } from "./wasm.js";

/** Picks the matmul kernels: `auto` = WebAssembly SIMD on `threads` threads when it instantiates, else JavaScript. */
export async function createKernels(kind: "auto" | "wasm" | "js", threads: number): Promise<MatmulKernels> {
  if (kind === "js") return jsKernels;
  try {
    return await WasmKernels.create(threads);
  } catch (err) {
    if (kind === "wasm") throw err;
    return jsKernels;
  }
}

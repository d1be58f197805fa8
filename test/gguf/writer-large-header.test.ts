/** Regression: headers larger than the writer's initial 64 KiB buffer (real tokenizers) were written into the old buffer. */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readGgufHeader } from "../../src/gguf/index.js";
import { GgmlType } from "../../src/gguf/types.js";
import { ggufValue, writeGguf } from "../../src/gguf/writer.js";

describe("GGUF writer with a header over 64 KiB", () => {
  it("writes and reads back every metadata value and tensor", async () => {
    const path = join(await mkdtemp(join(tmpdir(), "prism-gguf-")), "big-header.gguf");
    const tokens = Array.from({ length: 20_000 }, (_, i) => `token-${i}`);
    await writeGguf(path, {
      metadata: [
        ["general.architecture", ggufValue.string("llama")],
        ["tokenizer.ggml.tokens", ggufValue.array("string", tokens)],
        ["general.after", ggufValue.u32(7)],
      ],
      tensors: [{ name: "w", shape: [32], type: GgmlType.F32, data: new Float32Array(32).fill(1) }],
    });
    const header = await readGgufHeader(path);
    const read = header.metadata.get("tokenizer.ggml.tokens");
    expect(read?.type).toBe("array");
    expect(read?.type === "array" ? read.value.items : []).toEqual(tokens);
    expect(header.metadata.get("general.after")).toEqual({ type: "u32", value: 7 });
    expect(header.tensors.map((t) => t.name)).toEqual(["w"]);
  });
});

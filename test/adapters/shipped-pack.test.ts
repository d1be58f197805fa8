import { describe, expect, it } from "vitest";
import { loadAdapterPack } from "../../src/adapters/pack.js";
import { describeServedModel } from "../../src/adapters/served-model.js";
import { AdapterPackError } from "../../src/errors.js";
import { defaultModelPath, fixturePaths } from "../helpers/paths.js";

// The pack `npm start` serves out of the box: it must load against the default model and be refused elsewhere.
describe("shipped pack adapters/expert", () => {
  it("loads against the default model (SmolLM2-135M-Instruct Q4_1) in persona-prompt mode with the default gate features", async () => {
    const pack = await loadAdapterPack("adapters/expert", await describeServedModel(defaultModelPath()));
    expect(pack.name).toBe("expert");
    expect(pack.manifest.mode).toBe("persona-prompt");
    expect(pack.gate.features).toEqual({ kind: "token-embd", pooling: "mean", dim: 576 });
    expect(pack.manifest.provenance).toMatchObject({ generator: "prism bootstrap", seed: 0 });
    // Session 4: an intent-class head (P(apply) = P(generative) + P(safety)), verdicts weighted by the judge's reliability.
    expect(pack.gate.data.classes).toEqual(["discriminative", "generative", "safety"]);
    expect(pack.gate.data.applyClasses).toEqual(["generative", "safety"]);
    expect(pack.manifest.provenance).toMatchObject({ gate: { verdictWeight: 0, judgeReliability: { kappa: 0 } } });
  });

  it("is refused for another model, naming the base-model mismatch", async () => {
    const error = await loadAdapterPack("adapters/expert", await describeServedModel(fixturePaths().modelPath)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AdapterPackError);
    expect((error as AdapterPackError).problems.join("\n")).toMatch(/base model|fingerprint|embedding/i);
  });
});

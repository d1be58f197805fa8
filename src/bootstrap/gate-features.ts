/**
 * The bootstrap's gate features are the gateway's own (src/gate/features.ts), so a head trained
 * here sees at serving time exactly the vectors it was trained on.
 */
import { GateFeatureExtractor as ServingFeatureExtractor, type GateEngine } from "../gate/features.js";
import type { FeatureSpec } from "../gate/head-format.js";
import { TokenEmbeddingTable } from "../gate/token-embeddings.js";
import type { GateFeatureExtractor } from "./model.js";

export type GateTemplater = Pick<GateEngine, "tokenize" | "applyChatTemplate"> & Partial<Pick<GateEngine, "embed">>;

/** Default gate input: mean of the GGUF's token embeddings over the templated prompt (no model pass). */
export async function tokenEmbeddingFeatures(
  modelPath: string,
  templater: GateTemplater,
  pooling: Extract<FeatureSpec, { kind: "token-embd" }>["pooling"] = "mean",
): Promise<GateFeatureExtractor> {
  const table = await TokenEmbeddingTable.fromGguf(modelPath);
  const engine: GateEngine = {
    tokenize: (text, options) => templater.tokenize(text, options),
    applyChatTemplate: (messages, options) => templater.applyChatTemplate(messages, options),
    embed: (texts, signal) => {
      if (!templater.embed) throw new RangeError("engine-embedding features need an engine with embed()");
      return templater.embed(texts, signal);
    },
  };
  const extractor = new ServingFeatureExtractor({ engine, tokenEmbeddings: table });
  const spec: FeatureSpec = { kind: "token-embd", pooling, dim: pooling === "mean-max" ? 2 * table.dim : table.dim };
  return { spec, extract: (prompt) => extractor.extract(spec, prompt) };
}

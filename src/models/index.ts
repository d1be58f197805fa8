export { resolveModel } from "./resolver.js";
export type { ModelResolverOptions, ResolvedModel, ModelSource, DefaultModelSource } from "./resolver.js";
export { DEFAULT_MODEL, DEFAULT_MODEL_ID } from "./default-model.js";
export type { KnownModel } from "./default-model.js";
export { verifyModelFile, sha256File } from "./verify.js";

/** Public surface of the GGUF toolkit. */
export { openGguf, readGgufHeader, fingerprintGguf } from "./reader.js";
export type { GgufFile, GgufHeader, OpenGgufOptions } from "./reader.js";
export { GgufMetadata } from "./metadata.js";
export { canDequantize, dequantize } from "./dequantize.js";
export { GgmlType, ggmlTypeTraits, GgufValueTypeId } from "./types.js";
export type {
  GgmlTypeName,
  GgmlTypeTraits,
  GgufArray,
  GgufScalar,
  GgufTensorInfo,
  GgufValue,
  GgufValueType,
} from "./types.js";

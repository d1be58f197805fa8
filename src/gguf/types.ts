/**
 * GGUF vocabulary: ggml tensor types with their block layout, metadata value types, and the shapes the
 * reader returns. Numbers follow ggml.h / gguf.h (llama.cpp); the names are ggml's own.
 */

/** ggml tensor type ids (ggml.h `enum ggml_type`). */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;
export type GgmlType = (typeof GgmlType)[keyof typeof GgmlType];
export type GgmlTypeName = keyof typeof GgmlType;

export interface GgmlTypeTraits {
  readonly name: GgmlTypeName;
  /** Elements per block (1 for plain types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
}

const QK_K = 256;

/** Block layout of every type ggml knows; needed to size tensors even when we cannot dequantize them. */
const TRAITS: Readonly<Record<GgmlTypeName, readonly [blockSize: number, typeSize: number]>> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q8_1: [32, 36],
  Q2_K: [QK_K, 84],
  Q3_K: [QK_K, 110],
  Q4_K: [QK_K, 144],
  Q5_K: [QK_K, 176],
  Q6_K: [QK_K, 210],
  Q8_K: [QK_K, 292],
  IQ2_XXS: [QK_K, 66],
  IQ2_XS: [QK_K, 74],
  IQ3_XXS: [QK_K, 98],
  IQ1_S: [QK_K, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [QK_K, 110],
  IQ2_S: [QK_K, 82],
  IQ4_XS: [QK_K, 136],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [QK_K, 56],
  BF16: [1, 2],
  TQ1_0: [QK_K, 54],
  TQ2_0: [QK_K, 66],
  MXFP4: [32, 17],
};

const TRAITS_BY_ID = new Map<number, GgmlTypeTraits>(
  (Object.keys(GgmlType) as GgmlTypeName[]).map((name) => {
    const [blockSize, typeSize] = TRAITS[name];
    return [GgmlType[name], { name, blockSize, typeSize }];
  }),
);

/** Layout of a ggml type id, or undefined for ids ggml does not define. */
export function ggmlTypeTraits(type: number): GgmlTypeTraits | undefined {
  return TRAITS_BY_ID.get(type);
}

/** GGUF metadata value type ids (gguf.h `enum gguf_type`). */
export const GgufValueTypeId = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type GgufValueType = keyof typeof GgufValueTypeId;
export type GgufNumberType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
export type GgufBigIntType = "u64" | "i64";

export type GgufScalar = number | bigint | boolean | string;

/** An array value; `items` are scalars of `itemType`, or nested arrays when `itemType` is `array`. */
export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: readonly (GgufScalar | GgufArray)[];
}

/** One typed metadata value. The type is kept so a file can be rewritten exactly. */
export type GgufValue =
  | { readonly type: GgufNumberType; readonly value: number }
  | { readonly type: GgufBigIntType; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "array"; readonly value: GgufArray };

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml type id. */
  readonly type: number;
  readonly typeName: GgmlTypeName;
  /** ggml `ne`: shape with the row length first (ne[0] elements per row). */
  readonly shape: readonly number[];
  readonly elementCount: number;
  /** Elements per row (`shape[0]`). */
  readonly rowLength: number;
  /** Number of rows (product of `shape[1..]`). */
  readonly rowCount: number;
  /** Bytes per row. */
  readonly rowBytes: number;
  /** Absolute position of the tensor's data in the file. */
  readonly byteOffset: number;
  readonly byteSize: number;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS and GGML_MAX_NAME (name length incl. NUL). */
export const GGML_MAX_DIMS = 4;
export const GGML_MAX_NAME = 64;

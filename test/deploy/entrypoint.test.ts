/**
 * The image's entrypoint, run outside Docker: the app laid out as the Dockerfile's final stage lays it out
 * (WORKDIR /app with dist/, node_modules/, package.json), started with the Dockerfile's ENV, ENTRYPOINT and
 * CMD, on the real model. Checks it serves, that the HEALTHCHECK command passes, and that SIGTERM exits 0.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/net.js";

const root = join(import.meta.dirname, "..", "..");
const MODEL = join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf");

/** ENV, ENTRYPOINT, CMD and HEALTHCHECK of the Dockerfile's final stage. */
function finalStage() {
  const lines = readFileSync(join(root, "Dockerfile"), "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const stage = lines.slice(lines.findLastIndex((l) => l.startsWith("FROM ")));
  const env: Record<string, string> = {};
  for (const l of stage.filter((x) => x.startsWith("ENV "))) {
    for (const m of l.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[m[1] as string] = m[2] as string;
  }
  const json = (prefix: string): string[] => JSON.parse(stage.find((l) => l.startsWith(prefix))?.slice(prefix.length) ?? "[]");
  const healthcheck = stage.find((l) => l.startsWith("HEALTHCHECK")) ?? "";
  const workdir = stage.find((l) => l.startsWith("WORKDIR "))?.slice(8) ?? "/";
  return { env, entrypoint: json("ENTRYPOINT "), cmd: json("CMD "), healthcheck: JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4)) as string[], workdir };
}

describe("Docker entrypoint outside Docker", () => {
  let child: ChildProcess | null = null;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
  });

  it("serves, passes the HEALTHCHECK and exits 0 on SIGTERM", async () => {
    const stage = finalStage();
    expect(stage.workdir).toBe("/app");
    // Lay out /app as the image does.
    const app = join(mkdtempSync(join(tmpdir(), "prism-image-")), "app");
    mkdirSync(join(app, "models"), { recursive: true });
    try {
      execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json"), "--outDir", join(app, "dist")], { stdio: "pipe" });
    } catch {
      // Type errors elsewhere are the typecheck's business; what matters here is that the entrypoint was emitted.
    }
    expect(existsSync(join(app, ...stage.entrypoint.slice(1)))).toBe(true);
    symlinkSync(join(root, "node_modules"), join(app, "node_modules"));
    copyFileSync(join(root, "package.json"), join(app, "package.json"));

    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? tmpdir(),
      ...stage.env,
      PRISM_SERVER_HOST: "127.0.0.1",
      PRISM_SERVER_PORT: String(port),
      PRISM_MODEL_SPEC: MODEL,
      PRISM_MODEL_CONTEXT_SIZE: "512",
      PRISM_MODEL_SEQUENCES: "1",
      PRISM_API_KEYS: "sk-entrypoint-0123456789abcdef",
    };
    const [command, ...args] = [...stage.entrypoint, ...stage.cmd];
    expect(command).toBe("node");
    let output = "";
    child = spawn(process.execPath, args, { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));

    const deadline = Date.now() + 150_000;
    let status = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      status = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0);
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(status, output.slice(-2000)).toBe(200);

    const [hcCommand, ...hcArgs] = stage.healthcheck;
    expect(hcCommand).toBe("node");
    execFileSync(process.execPath, hcArgs, { env }); // throws on a non-zero exit

    // Auth is on with PRISM_API_KEYS; the probe and the scrape stay public.
    expect((await fetch(`http://127.0.0.1:${port}/v1/models`)).status).toBe(401);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^prism_engine_ready 1$/m);

    // Request ids: a plain client id is kept, echoed and logged.
    const listed = await fetch(`http://127.0.0.1:${port}/v1/models`, {
      headers: { authorization: `Bearer ${env.PRISM_API_KEYS}`, "x-request-id": "entrypoint-check-1" },
    });
    expect(listed.status).toBe(200);
    expect(listed.headers.get("x-request-id")).toBe("entrypoint-check-1");

    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // JSON logs on stdout.
    const records = output
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.some((r) => r.requestId === "entrypoint-check-1")).toBe(true);
    expect(output).not.toContain(env.PRISM_API_KEYS);
  }, 240_000);
});

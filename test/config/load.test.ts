import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { loadConfig } from "../../src/config/load.js";
import { engineLoadOptions } from "../../src/engine/load-options.js";

describe("config", () => {
  it("defaults every section", () => {
    const config = loadConfig({ env: {} });
    expect(config.server.port).toBe(8080);
    expect(config.server.servedModelName).toBe("prism");
    expect(config.model.spec).toBe("default");
    expect(config.model.threads).toBe(os.availableParallelism());
    expect(config.engine.maxQueue).toBeGreaterThan(0);
    expect(config.limits.bodyLimitBytes).toBeGreaterThan(0);
  });

  it("reads a YAML file and lets PRISM_* env override it", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "prism-config-"));
    const file = path.join(dir, "prism.yaml");
    writeFileSync(file, "server:\n  port: 9000\nmodel:\n  contextSize: 1024\n");
    const config = loadConfig({ file, env: { PRISM_SERVER_PORT: "9100", PRISM_ENGINE_MAX_QUEUE: "3" } });
    expect(config.server.port).toBe(9100);
    expect(config.model.contextSize).toBe(1024);
    expect(config.engine.maxQueue).toBe(3);
  });

  it("takes flash attention and decode ahead as auto, on or off, and maps them into the engine's load options", () => {
    expect(loadConfig({ env: {} }).engine.flashAttention).toBe("auto");
    const off = loadConfig({ env: { PRISM_ENGINE_FLASH_ATTENTION: "false" } });
    expect(off.engine.flashAttention).toBe(false);
    expect(engineLoadOptions(off, "m.gguf").flashAttention).toBe(false);
    expect(() => loadConfig({ env: { PRISM_ENGINE_FLASH_ATTENTION: "sometimes" } })).toThrow(ConfigError);
    expect(loadConfig({ env: {} }).engine.decodeAhead).toBe("auto");
    const ahead = loadConfig({ env: { PRISM_ENGINE_DECODE_AHEAD: "true" } });
    expect(engineLoadOptions(ahead, "m.gguf").decodeAhead).toBe(true);
    expect(() => loadConfig({ env: { PRISM_ENGINE_DECODE_AHEAD: "often" } })).toThrow(ConfigError);
  });

  it("lists every problem at once", () => {
    let error: unknown;
    try {
      loadConfig({ env: { PRISM_SERVER_PORT: "-1", PRISM_MODEL_SEQUENCES: "\"many\"", PRISM_SERVER_PROT: "1" } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toContain("server.port");
    expect(problems).toContain("model.sequences");
    expect(problems).toContain("PRISM_SERVER_PROT");
  });
});

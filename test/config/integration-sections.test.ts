/** The adapters / experiments / database sections that `prism serve` wires in: env mapping and refusals. */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const arms = [
  { name: "treatment", target: "routed" },
  { name: "control", target: "base" },
];

describe("integration config sections", () => {
  it("defaults: adapters/ watched, no experiments, SQLite where `prism ab report` looks", () => {
    const config = loadConfig({ env: {} });
    expect(config.adapters).toEqual({ dir: "adapters", watch: true });
    expect(config.experiments).toEqual({ experiments: [], file: null });
    expect(config.database).toMatchObject({ url: null, sqlitePath: "data/ab-events.sqlite", eventBufferSize: 50_000 });
  });

  it("reads PRISM_DATABASE_URL, PRISM_ADAPTERS_* and inline experiments from env", () => {
    const config = loadConfig({
      env: {
        PRISM_DATABASE_URL: "postgresql://prism:secret@db:5432/prism",
        PRISM_ADAPTERS_DIR: "/packs",
        PRISM_ADAPTERS_WATCH: "false",
        PRISM_EXPERIMENTS_EXPERIMENTS: JSON.stringify([{ name: "exp", arms }]),
      },
    });
    expect(config.database.url).toBe("postgresql://prism:secret@db:5432/prism");
    expect(config.adapters).toEqual({ dir: "/packs", watch: false });
    expect(config.experiments.experiments[0]).toMatchObject({ name: "exp", enabled: true, coverage: 1 });
  });

  it("lists every problem: non-postgres URL, bad arm target, duplicate experiment names, unknown field", () => {
    let error: unknown;
    try {
      loadConfig({
        env: { PRISM_DATABASE_URL: "mysql://x", PRISM_DATABASE_POOL: "3" },
        overrides: {
          experiments: {
            experiments: [
              { name: "a", arms },
              { name: "a", arms: [{ name: "x", target: "nobody" }, { name: "y", target: "base" }] },
            ],
          },
        },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as ConfigError).problems.join("\n");
    expect(text).toMatch(/database\.url: .*postgres/);
    expect(text).toMatch(/PRISM_DATABASE_POOL: unknown setting/);
    expect(text).toMatch(/experiments\.experiments\.1\.arms\.0\.target/);
    expect(text).toMatch(/experiment names must be unique/);
  });
});

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { configSections } from "../../src/config/schema.js";
import { GatewayMetrics } from "../../src/telemetry/metrics.js";
import { DOC_PATH, renderConfigReference, renderOperationsDoc } from "../../scripts/gen-config-docs.js";

describe("docs/operations.md", () => {
  it("has the config and metrics reference as generated from the code (run scripts/gen-config-docs.ts when this fails)", async () => {
    const current = readFileSync(DOC_PATH, "utf8");
    expect(await renderOperationsDoc(current)).toBe(current);
  });

  it("documents every config field with its env var, and every metric", async () => {
    const reference = renderConfigReference();
    for (const [section, schema] of Object.entries(configSections)) {
      for (const field of Object.keys(schema.shape)) expect(reference).toContain(`\`${section}.${field}\``);
    }
    expect(reference).toContain("`PRISM_LIMITS_TOKENS_PER_MINUTE`");
    const doc = readFileSync(DOC_PATH, "utf8");
    const names = (await new GatewayMetrics().registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !n.startsWith("prism_process") && !n.startsWith("prism_nodejs"));
    expect(names.length).toBeGreaterThan(15);
    for (const name of names) expect(doc).toContain(`\`${name}\``);
  });
});

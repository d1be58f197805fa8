/**
 * Fault: the A/B database is unavailable. The real PostgreSQL store points at a port nobody listens on; the
 * recorder in front of it must keep accepting events without throwing, keep them buffered (bounded) and count
 * what it drops. (The chat route does not record A/B events yet; when it does, extend this to live traffic.)
 */
import net from "node:net";
import { describe, expect, it } from "vitest";
import type { ResponseEvent } from "../../src/ab/events.js";
import { PgEventStore } from "../../src/ab/pg-store.js";
import { EventRecorder } from "../../src/ab/recorder.js";

async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const event = (i: number): ResponseEvent => ({
  id: `resp-${i}`,
  createdAt: 1_700_000_000_000 + i,
  experiment: "exp",
  arm: i % 2 ? "treatment" : "control",
  route: "base",
  adapter: null,
  model: "prism",
  keyId: null,
  user: `u${i}`,
  latencyMs: 10,
  promptTokens: 5,
  completionTokens: 3,
});

describe("A/B database unavailable", () => {
  it("buffers events, counts the ones it must drop and never throws on the request path", async () => {
    const store = new PgEventStore(`postgres://prism:prism@127.0.0.1:${await deadPort()}/prism`, { connectionTimeoutMillis: 500 });
    const lostReports: number[] = [];
    const recorder = new EventRecorder(store, { maxBuffered: 100, flushIntervalMs: 50, onLost: (n) => lostReports.push(n) });
    try {
      for (let i = 0; i < 150; i++) expect(() => recorder.record(event(i))).not.toThrow();
      await recorder.flush();
      await new Promise((r) => setTimeout(r, 300));
      const stats = recorder.stats();
      expect(stats.written).toBe(0);
      expect(stats.pending).toBe(100);
      expect(stats.lost).toBe(50);
      expect(lostReports.reduce((a, b) => a + b, 0)).toBe(50);
      expect(stats.flushFailures).toBeGreaterThan(0);
      expect(stats.lastError).toMatch(/ECONNREFUSED|connect/i);
    } finally {
      await recorder.close();
      await store.close();
    }
  });
});

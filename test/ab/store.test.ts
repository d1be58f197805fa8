import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ResponseEvent } from "../../src/ab/events.js";
import { PgEventStore } from "../../src/ab/pg-store.js";
import { EventRecorder } from "../../src/ab/recorder.js";
import { armReports, formatArmTable, wilson } from "../../src/ab/report.js";
import { SqliteEventStore } from "../../src/ab/sqlite-store.js";
import type { EventStore } from "../../src/ab/store.js";
import { UnavailableError } from "../../src/errors.js";
import { freshPgSchema, SKIP_PG } from "./pg.js";

function event(id: string, arm: string, over: Partial<ResponseEvent> = {}): ResponseEvent {
  return {
    id,
    createdAt: Date.now(),
    experiment: "exp",
    arm,
    route: arm === "control" ? "base" : "writer",
    adapter: arm === "control" ? null : "writer",
    model: "prism",
    keyId: null,
    user: null,
    latencyMs: 100,
    promptTokens: 10,
    completionTokens: 20,
    ...over,
  };
}


const backends: { name: string; skip: boolean; open: () => Promise<{ open: () => EventStore }> }[] = [
  {
    name: "sqlite",
    skip: false,
    open: async () => {
      const file = join(await mkdtemp(join(tmpdir(), "prism-ab-")), "events.sqlite");
      return { open: () => new SqliteEventStore(file) };
    },
  },
  {
    name: "postgres",
    skip: SKIP_PG,
    open: async () => {
      const url = await freshPgSchema("t");
      return { open: () => new PgEventStore(url) };
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`A/B event store (${backend.name})`, () => {
    it("migrates idempotently, records responses and feedback, and keeps them across restarts", async () => {
      const { open } = await backend.open();
      let store = open();
      await store.migrate();
      await store.migrate();
      await store.recordResponses([event("r1", "treatment"), event("r2", "treatment"), event("r3", "control"), event("r4", "control", { latencyMs: 300 })]);
      await store.recordResponses([event("r1", "treatment")]); // duplicate id: ignored, not double-counted
      await store.recordResponses([event("r5", "none", { experiment: null, arm: null })]);
      const treatmentArm = { experiment: "exp", arm: "treatment" };
      expect(await store.recordFeedback({ responseId: "r1", score: 1, comment: "great", createdAt: Date.now() })).toEqual(treatmentArm);
      expect(await store.recordFeedback({ responseId: "r2", score: 0, comment: null, createdAt: Date.now() })).toEqual(treatmentArm);
      expect(await store.recordFeedback({ responseId: "r2", score: 1, comment: "changed my mind", createdAt: Date.now() })).toEqual(treatmentArm);
      expect(await store.recordFeedback({ responseId: "r5", score: 1, comment: null, createdAt: Date.now() })).toEqual({ experiment: null, arm: null });
      expect(await store.recordFeedback({ responseId: "nope", score: 1, comment: null, createdAt: Date.now() })).toBeNull();
      await store.close();

      store = open(); // restart
      await store.migrate();
      const rows = await store.aggregates("exp");
      await store.close();
      const treatment = rows.find((r) => r.arm === "treatment")!;
      const control = rows.find((r) => r.arm === "control")!;
      expect(treatment).toMatchObject({ requests: 2, feedbackCount: 2, wins: 2, scoreSum: 2, promptTokens: 20, completionTokens: 40 });
      expect(control).toMatchObject({ requests: 2, feedbackCount: 0, latencySum: 400 });
      const report = armReports(rows);
      expect(report.find((r) => r.arm === "control")!.meanLatencyMs).toBe(200);
      expect(formatArmTable(report)).toMatch(/treatment\s+2\s+2/);
    });
  });
}

describe("A/B report statistics", () => {
  it("gives Wilson intervals that contain the rate and narrow with n", () => {
    const small = wilson(7, 10);
    const large = wilson(700, 1000);
    expect(small.low!).toBeLessThan(0.7);
    expect(small.high!).toBeGreaterThan(0.7);
    expect(large.high! - large.low!).toBeLessThan(small.high! - small.low!);
    // Reference value (Wilson 95% for 7/10): [0.3968, 0.8922].
    expect(small.low!).toBeCloseTo(0.3968, 3);
    expect(small.high!).toBeCloseTo(0.8922, 3);
    expect(wilson(0, 0).value).toBeNull();
  });
});

/** A real store that can be swapped, to take the database "down" and bring it back. */
class SwitchableStore implements EventStore {
  readonly kind = "sqlite" as const;
  constructor(public target: EventStore) {}
  migrate() { return this.target.migrate(); }
  recordResponses(e: readonly ResponseEvent[]) { return this.target.recordResponses(e); }
  recordFeedback(e: Parameters<EventStore["recordFeedback"]>[0]) { return this.target.recordFeedback(e); }
  hasResponse(id: string) { return this.target.hasResponse(id); }
  aggregates(x?: string) { return this.target.aggregates(x); }
  close() { return this.target.close(); }
}

describe("EventRecorder when the database is down", () => {
  it("buffers, counts what it had to drop, and writes the rest after recovery", async () => {
    const down = new PgEventStore("postgres://nobody@127.0.0.1:1/none", { connectionTimeoutMillis: 200 });
    const file = join(await mkdtemp(join(tmpdir(), "prism-ab-")), "events.sqlite");
    const healthy = new SqliteEventStore(file);
    await healthy.migrate();
    const store = new SwitchableStore(down);
    const lost: number[] = [];
    const recorder = new EventRecorder(store, { maxBuffered: 5, flushIntervalMs: 60_000, onLost: (n) => lost.push(n) });
    for (let i = 0; i < 7; i++) recorder.record(event(`d${i}`, "treatment"));
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ pending: 5, lost: 2, written: 0, flushFailures: 1 });
    expect(lost).toEqual([1, 1]);
    await expect(recorder.feedback({ responseId: "d9", score: 1, comment: null, createdAt: 0 })).rejects.toBeInstanceOf(UnavailableError);

    store.target = healthy; // database back
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ pending: 0, written: 5, lost: 2 });
    expect(await recorder.feedback({ responseId: "d6", score: 1, comment: null, createdAt: 0 })).toBe(true);
    await recorder.close();
    await down.close();
    await healthy.close();
  });
});

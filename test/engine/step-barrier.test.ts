import { describe, expect, it, vi } from "vitest";
import { StepBarrier } from "../../src/engine/step-barrier.js";

/** Resolution state of a promise after pending timers/microtasks of `ms` ms. */
async function settledAfter(promise: Promise<void>, ms: number): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((r) => setTimeout(r, ms));
  return done;
}

describe("StepBarrier", () => {
  it("releases the members together once the last one arrives", async () => {
    const barrier = new StepBarrier(10_000);
    const [a, b, c] = [barrier.join(), barrier.join(), barrier.join()];
    const first = a.arrive();
    const second = b.arrive();
    expect(await settledAfter(first, 20)).toBe(false);
    expect(await settledAfter(second, 0)).toBe(false);
    await c.arrive();
    expect(await settledAfter(first, 0)).toBe(true);
    expect(await settledAfter(second, 0)).toBe(true);
  });

  it("a single member never waits", async () => {
    const barrier = new StepBarrier(10_000);
    const only = barrier.join();
    expect(await settledAfter(only.arrive(), 0)).toBe(true);
  });

  it("arms its wait timer only while a member waits (none per token for a lone generation)", async () => {
    const setTimer = vi.spyOn(globalThis, "setTimeout");
    try {
      const barrier = new StepBarrier(100);
      const a = barrier.join();
      await a.arrive();
      expect(setTimer).not.toHaveBeenCalled();
      const b = barrier.join();
      a.returned();
      const first = a.arrive();
      expect(setTimer).toHaveBeenCalledTimes(1);
      await b.arrive();
      await first;
    } finally {
      setTimer.mockRestore();
    }
  });

  it("waits at most maxWaitMs for a member busy with its consumer", async () => {
    const barrier = new StepBarrier(30);
    const [a, slow] = [barrier.join(), barrier.join()];
    void slow; // joined (has its first token) but its consumer has not asked for the next one yet
    const waiting = a.arrive();
    expect(await settledAfter(waiting, 5)).toBe(false);
    expect(await settledAfter(waiting, 60)).toBe(true);
  });

  it("always waits for a member whose token is still being decoded", async () => {
    const barrier = new StepBarrier(20);
    const [a, b] = [barrier.join(), barrier.join()];
    // Both go to the engine together; b's token comes back later than a's.
    const go = Promise.all([a.arrive(), b.arrive()]);
    await go;
    a.returned();
    const waiting = a.arrive();
    expect(await settledAfter(waiting, 60)).toBe(false);
    b.returned();
    // b is with its consumer now: the expired wait no longer holds a.
    expect(await settledAfter(waiting, 0)).toBe(true);
  });

  it("a member leaving releases the others; leave is idempotent", async () => {
    const barrier = new StepBarrier(10_000);
    const [a, b, c] = [barrier.join(), barrier.join(), barrier.join()];
    const waiting = [a.arrive(), b.arrive()];
    c.leave();
    c.leave();
    expect(barrier.members).toBe(2);
    expect(await settledAfter(Promise.all(waiting).then(() => undefined), 0)).toBe(true);
    a.leave();
    b.leave();
    expect(barrier.members).toBe(0);
  });

  it("a member that leaves while it waits is let go and not counted as decoding", async () => {
    const barrier = new StepBarrier(20);
    const [a, b, c] = [barrier.join(), barrier.join(), barrier.join()];
    const own = a.arrive(); // a asked ahead for its next token, then its generation stopped
    a.leave();
    expect(await settledAfter(own, 0)).toBe(true);
    // b waits for c, which is busy with its consumer: the wait expires, since nothing is decoding (a is not).
    void c;
    expect(await settledAfter(b.arrive(), 60)).toBe(true);
  });
});

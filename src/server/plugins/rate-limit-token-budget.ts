import { OverloadedError } from "../../errors.js";

const WINDOW_MS = 60_000;

interface Window {
  start: number;
  used: number;
}

/**
 * Tokens (prompt + generated) per caller per minute, in fixed one-minute windows. A request is admitted
 * while the caller's window has budget left and is charged its real usage when it finishes, so a single
 * request may overshoot the budget once; the next one then waits for the window to roll over.
 * Memory is bounded by the callers seen in the last minute (expired windows are swept).
 */
export class TokenBudget {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private windowOf(caller: string, now: number): Window {
    let window = this.windows.get(caller);
    if (window === undefined || now - window.start >= WINDOW_MS) {
      window = { start: now, used: 0 };
      this.windows.set(caller, window);
    }
    return window;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < WINDOW_MS) return;
    this.lastSweep = now;
    for (const [caller, window] of this.windows) if (now - window.start >= WINDOW_MS) this.windows.delete(caller);
  }

  /** Throws OverloadedError (429, retry when the window rolls over) when `caller` has spent `limit`. */
  assertAvailable(caller: string, limit: number): void {
    const now = this.now();
    this.sweep(now);
    const window = this.windowOf(caller, now);
    if (window.used >= limit) {
      const retryAfterMs = Math.max(1, window.start + WINDOW_MS - now);
      throw new OverloadedError(
        `Token budget reached: ${limit} tokens per minute for this key (used ${window.used}). ` +
          `Retry in ${Math.ceil(retryAfterMs / 1000)} s.`,
        retryAfterMs,
        "tokens_per_minute_exceeded",
      );
    }
  }

  charge(caller: string, tokens: number): void {
    if (tokens <= 0) return;
    this.windowOf(caller, this.now()).used += tokens;
  }

  /** Tokens `caller` has used in its current window. */
  used(caller: string): number {
    const window = this.windows.get(caller);
    return window === undefined || this.now() - window.start >= WINDOW_MS ? 0 : window.used;
  }

  get trackedCallers(): number {
    return this.windows.size;
  }
}

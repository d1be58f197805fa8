/**
 * Buffers response events in front of the store and flushes them in batches, off the request path.
 * When the database is down, events stay buffered (bounded) and are retried; beyond the bound the
 * oldest are dropped and COUNTED (`lost`), never silently. Feedback checks the buffer first, so a
 * rating for a response that is not flushed yet still lands.
 */
import { UnavailableError } from "../errors.js";
import type { FeedbackEvent, ResponseEvent } from "./events.js";
import type { AbArmMetrics } from "./metrics.js";
import type { EventStore } from "./store.js";

export interface RecorderStats {
  readonly pending: number;
  readonly written: number;
  readonly lost: number;
  readonly flushFailures: number;
  readonly lastError: string | null;
}

export class EventRecorder {
  private buffer: ResponseEvent[] = [];
  private written = 0;
  private lost = 0;
  private flushFailures = 0;
  private lastError: string | null = null;
  private flushing: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly store: EventStore,
    private readonly options: {
      maxBuffered?: number;
      flushIntervalMs?: number;
      onLost?: (count: number) => void;
      /** Per-arm Prometheus metrics, observed as events arrive (not when flushed). */
      metrics?: AbArmMetrics;
    } = {},
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  record(event: ResponseEvent): void {
    this.options.metrics?.observeResponse(event);
    this.buffer.push(event);
    const max = this.options.maxBuffered ?? 50_000;
    if (this.buffer.length > max) {
      const dropped = this.buffer.length - max;
      this.buffer.splice(0, dropped);
      this.lost += dropped;
      this.options.onLost?.(dropped);
    }
  }

  /** Writes what is buffered; on failure keeps it for the next attempt. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.buffer.length === 0) return Promise.resolve();
    const batch = this.buffer.slice(0, 500);
    this.flushing = this.store
      .recordResponses(batch)
      .then(() => {
        // Only drop what was written (new events may have arrived meanwhile).
        this.buffer.splice(0, batch.length);
        this.written += batch.length;
        this.lastError = null;
      })
      .catch((error: unknown) => {
        this.flushFailures++;
        this.lastError = error instanceof Error ? error.message : String(error);
      })
      .finally(() => {
        this.flushing = null;
      });
    return this.flushing;
  }

  /** Flushes until empty or a flush fails. */
  async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const before = this.flushFailures;
      await this.flush();
      if (this.flushFailures > before) return;
    }
  }

  /** False when no response with that id was recorded. */
  async feedback(event: FeedbackEvent): Promise<boolean> {
    if (this.buffer.some((e) => e.id === event.responseId)) await this.drain();
    let target;
    try {
      target = await this.store.recordFeedback(event);
    } catch (error) {
      throw new UnavailableError(`feedback store unavailable: ${(error as Error).message}`, 2000);
    }
    if (target) this.options.metrics?.observeFeedback(target, event.score);
    return target !== null;
  }

  stats(): RecorderStats {
    return { pending: this.buffer.length, written: this.written, lost: this.lost, flushFailures: this.flushFailures, lastError: this.lastError };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.drain();
  }
}

/**
 * One llama context (base or one adapter) and its sequences: the unit of continuous batching. Requests wait
 * here for a free sequence; a context never lends sequences to another adapter, so base requests never wait
 * behind adapter work. A replaced or unloaded adapter's pool is marked retiring and disposed once idle.
 */
import type { LlamaContext, LlamaContextSequence, Token } from "node-llama-cpp";
import { ClientAbortedError, RequestTimeoutError } from "../errors.js";
import { StepBarrier } from "./step-barrier.js";

interface Waiter {
  resolve(sequence: LlamaContextSequence): void;
  reject(error: Error): void;
  cleanup(): void;
}

export class ContextPool {
  readonly #free: LlamaContextSequence[] = [];
  /**
   * Creation order of this pool's sequences. Sequences are never disposed while the pool lives, so it is also
   * node-llama-cpp's sequence id order (ids are handed out counting up).
   */
  readonly #slotOf = new Map<LlamaContextSequence, number>();
  readonly #waiters: Waiter[] = [];
  #active = 0;
  #retiring = false;
  #disposed = false;

  /** Lines up this context's generating sequences into shared decode batches; null = not aligned. */
  readonly steps: StepBarrier | null;

  constructor(
    readonly adapter: string | null,
    readonly context: LlamaContext,
    readonly maxSequences: number,
    stepAlignMaxWaitMs = 0,
  ) {
    this.steps = stepAlignMaxWaitMs > 0 && maxSequences > 1 ? new StepBarrier(stepAlignMaxWaitMs) : null;
  }

  get active(): number {
    return this.#active;
  }
  get queued(): number {
    return this.#waiters.length;
  }
  get retiring(): boolean {
    return this.#retiring;
  }

  /**
   * Resolves with an exclusive sequence; rejects on deadline or abort (the waiter is removed either way).
   * `prompt`: the request's tokens, to pick the free sequence that already holds the longest prefix of them.
   */
  acquire(timeoutMs: number, signal: AbortSignal | undefined, prompt: readonly Token[] = []): Promise<LlamaContextSequence> {
    if (signal?.aborted) return Promise.reject(new ClientAbortedError("request aborted"));
    if (this.#waiters.length === 0 && this.#active < this.maxSequences) {
      this.#active++;
      return Promise.resolve(this.#takeFree(prompt));
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        remove();
        reject(new ClientAbortedError("request aborted while queued"));
      };
      const timer = setTimeout(() => {
        remove();
        reject(new RequestTimeoutError(`no sequence became free within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        },
      };
      const remove = (): void => {
        waiter.cleanup();
        const at = this.#waiters.indexOf(waiter);
        if (at !== -1) this.#waiters.splice(at, 1);
        this.#maybeDispose();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * The lowest free slot, so busy sequences keep consecutive ids and a decode step stays one forward pass
   * (batch-order.ts: each gap costs a pass over the weights, ~10 ms on SmolLM2 at 2 threads, at every step). A
   * free sequence whose cached tokens share a longer prefix with `prompt` wins instead when that saves at
   * least a quarter of the prompt: a conversation's next turn or a long repeated system prompt is not evaluated
   * again (llama-server picks a slot by cached prompt too, above a tenth). A new sequence when none is free.
   */
  #takeFree(prompt: readonly Token[]): LlamaContextSequence {
    if (this.#free.length === 0) {
      const sequence = this.context.getSequence();
      this.#slotOf.set(sequence, this.#slotOf.size);
      return sequence;
    }
    const slotOf = (at: number): number => this.#slotOf.get(this.#free[at]!)!;
    const cachedOf = (at: number): number => commonPrefixLength(this.#free[at]!.contextTokens, prompt);
    let lowest = 0;
    for (let at = 1; at < this.#free.length; at++) if (slotOf(at) < slotOf(lowest)) lowest = at;
    let pick = lowest;
    let pickCached = cachedOf(lowest);
    const worthMoving = pickCached + Math.max(1, Math.ceil(prompt.length / 4));
    for (let at = 0; at < this.#free.length; at++) {
      const cached = cachedOf(at);
      if (cached >= worthMoving && (cached > pickCached || (cached === pickCached && slotOf(at) < slotOf(pick)))) [pick, pickCached] = [at, cached];
    }
    return this.#free.splice(pick, 1)[0]!;
  }

  /** Returns a sequence; hands it straight to the next waiter when there is one. */
  release(sequence: LlamaContextSequence): void {
    const next = this.#waiters.shift();
    if (next) {
      next.cleanup();
      next.resolve(sequence);
      return;
    }
    this.#active--;
    this.#free.push(sequence);
    this.#maybeDispose();
  }

  /** No new work is routed here; disposes once the last sequence and waiter are done. */
  retire(): void {
    this.#retiring = true;
    this.#maybeDispose();
  }

  /** Rejects every waiter (drain timeout / shutdown). */
  rejectWaiters(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      waiter.cleanup();
      waiter.reject(error);
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.rejectWaiters(new ClientAbortedError("engine disposed"));
    await this.context.dispose();
  }

  #maybeDispose(): void {
    if (this.#retiring && this.#active === 0 && this.#waiters.length === 0) void this.dispose();
  }
}

/** How many leading tokens `a` and `b` share. */
export function commonPrefixLength(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

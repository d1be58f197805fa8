/**
 * Lines up the decode steps of one context's generations so each batch carries every generating sequence.
 *
 * node-llama-cpp dispatches a batch as soon as any sequence queued a token, so sequences that left prompt
 * processing in different batches stay out of phase for the rest of their lives (measured: 4 concurrent
 * generations ran 84 batches of 3 tokens instead of 63 of 4). Here each generating sequence, before asking
 * for its next token, waits until every other generating sequence of the context has asked too; they then
 * queue together and land in one batch. Sequences still processing their prompt are not waited for: their
 * prompt tokens ride along in the next batch (as llama-server does). A generation that is late (its client
 * reads slowly) holds the others at most `maxWaitMs`; the barrier realigns it at the following step.
 */
/** One generating sequence's handle on the barrier. */
export interface StepMember {
  /** Its next token came back from the engine (it is with its consumer now). */
  returned(): void;
  /** Ready for the next token: resolves when the others are too (see StepBarrier). */
  arrive(): Promise<void>;
  /** It stopped generating; the others no longer wait for it. Idempotent. */
  leave(): void;
}

export class StepBarrier {
  #members = 0;
  /** Members whose token request is with node-llama-cpp (queued or in the running batch). */
  #inEngine = 0;
  #waiting: { member: MemberState; resolve: () => void }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #expired = false;

  constructor(private readonly maxWaitMs: number) {}

  /** Generating sequences currently lined up by this barrier. */
  get members(): number {
    return this.#members;
  }

  /** A sequence starts generating: it just got its first token, so it is with its consumer. */
  join(): StepMember {
    const state: MemberState = { inEngine: false, left: false };
    this.#members++;
    return {
      returned: () => {
        if (!state.inEngine) return;
        state.inEngine = false;
        this.#inEngine--;
        this.#check();
      },
      arrive: () => {
        if (state.left) return Promise.resolve();
        const arrived = new Promise<void>((resolve) => this.#waiting.push({ member: state, resolve }));
        this.#check();
        // Armed only while someone waits: a lone generating sequence (one request) never sets a timer per token.
        if (this.#waiting.length > 0) {
          this.#timer ??= setTimeout(() => {
            this.#expired = true;
            this.#check();
          }, this.maxWaitMs);
        }
        return arrived;
      },
      leave: () => {
        if (state.left) return;
        state.left = true;
        this.#members--;
        if (state.inEngine) this.#inEngine--;
        state.inEngine = false;
        // A generation that decodes ahead can stop while its next step waits here: let that wait go without
        // counting it as in the engine, or an expired wait would hold the others until they all arrive.
        const own = this.#waiting.filter((w) => w.member === state);
        this.#waiting = this.#waiting.filter((w) => w.member !== state);
        for (const w of own) w.resolve();
        this.#check();
      },
    };
  }

  /**
   * Every member arrived: go. Members whose token is still being decoded are always waited for (they come
   * back when that batch ends, and nothing could join it anyway); members busy with their consumer are
   * waited for at most `maxWaitMs` after the first arrival.
   */
  #check(): void {
    if (this.#waiting.length === 0) return;
    if (this.#waiting.length >= this.#members || (this.#expired && this.#inEngine === 0)) this.#release();
  }

  #release(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#expired = false;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const { member, resolve } of waiting) {
      member.inEngine = true;
      this.#inEngine++;
      resolve();
    }
  }
}

interface MemberState {
  inEngine: boolean;
  left: boolean;
}

/**
 * Multi-turn stickiness. PRISM decides the route on the first user turn and keeps it for the
 * conversation. The OpenAI API is stateless, so a conversation is recognised by its opening:
 *
 *   conversation key = SHA-256(API key id, system messages, first user message)
 *
 * Every later request of that chat resends the same opening, so it maps to the same key. The route is
 * remembered (bounded LRU with a TTL) so it survives pack hot-swaps and threshold changes mid-chat; after
 * an eviction or restart the gate re-decides on the same first turn, which gives the same route while the
 * pack set is unchanged.
 */
import { createHash } from "node:crypto";
import type { RouteInput } from "./types.js";

export interface ConversationOpening {
  readonly key: string;
  /** Text of the first user message ("" when there is none). */
  readonly firstUserTurn: string;
  /** True when the request continues a conversation (an assistant turn follows the first user turn). */
  readonly isFollowUp: boolean;
}

export function conversationOpening(input: Pick<RouteInput, "messages" | "keyId">): ConversationOpening {
  const firstUser = input.messages.findIndex((m) => m.role === "user");
  const firstUserTurn = firstUser >= 0 ? input.messages[firstUser]!.content : "";
  const system = input.messages.filter((m, i) => m.role === "system" && (firstUser < 0 || i < firstUser)).map((m) => m.content);
  const hash = createHash("sha256");
  hash.update(JSON.stringify([input.keyId ?? "", system, firstUserTurn]));
  const isFollowUp = firstUser >= 0 && input.messages.slice(firstUser + 1).some((m) => m.role === "assistant");
  return { key: hash.digest("base64url"), firstUserTurn, isFollowUp };
}

export interface RememberedRoute {
  readonly route: string;
  readonly gateScore: number | null;
  readonly intent: string;
  readonly arm: string | null;
  readonly experiment: string | null;
}

export class ConversationRoutes {
  private readonly entries = new Map<string, { value: RememberedRoute; expires: number }>();

  constructor(
    private readonly maxEntries = 50_000,
    private readonly ttlMs = 6 * 60 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): RememberedRoute | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.expires < this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    // Refresh recency.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.value;
  }

  set(key: string, value: RememberedRoute): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
  }

  get size(): number {
    return this.entries.size;
  }
}

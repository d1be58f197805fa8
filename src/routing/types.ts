/**
 * The contract between the HTTP layer and PRISM routing. The server asks a `RequestRouter` where a
 * request goes before it queues it on the engine; the decision is echoed back to the client in
 * `x-prism-*` headers and the body's `prism` field.
 */

/** What the router sees of a request: enough to decide, nothing the engine needs. */
export interface RouteInput {
  /** The `model` field as sent, e.g. `prism`, `prism:base`, `prism:writing`. */
  readonly model: string;
  /** Chat messages with text content flattened (completions: one user message). */
  readonly messages: readonly { readonly role: string; readonly content: string }[];
  /** `x-prism-route` header: `auto` | `base` | `<persona>`; undefined when absent. */
  readonly routeHeader?: string | undefined;
  /** `user` field or `x-prism-user` header, for sticky A/B assignment. */
  readonly user?: string | undefined;
  /** The API key's id (never the key itself), for per-key experiment scoping. */
  readonly keyId?: string | undefined;
}

export type RouteReason = "gate" | "forced-model" | "header" | "experiment" | "conversation" | "no-adapters";

export interface RouteDecision {
  /** `base` or the persona/adapter name the request is served with. */
  readonly route: string;
  /** Adapter to apply, null for the base model. */
  readonly adapter: string | null;
  /** Gate probability that an adapter helps, null when the gate did not run. */
  readonly gateScore: number | null;
  /** The gate's intent reading: `generative` | `safety` | `discriminative` | `unknown`. */
  readonly intent: string;
  /** A/B arm name, null when no experiment applies. */
  readonly arm: string | null;
  readonly experiment: string | null;
  readonly reason: RouteReason;
  /** System prompt to inject (persona-prompt packs without a LoRA), null otherwise. */
  readonly personaPrompt: string | null;
  /** Time the decision took, ms. */
  readonly decisionMs: number;
}

export interface RequestRouter {
  decide(input: RouteInput): Promise<RouteDecision>;
}

/**
 * The router used when no PRISM router is supplied: `prism` and `prism:base` go to the base model,
 * `prism:<persona>` to that persona's adapter. Unknown names are rejected before routing (models route).
 */
import type { RequestRouter, RouteDecision, RouteInput } from "../routing/types.js";

export function createBaseRouter(servedModelName: string): RequestRouter {
  return {
    async decide(input: RouteInput): Promise<RouteDecision> {
      const forced = input.model.startsWith(`${servedModelName}:`) ? input.model.slice(servedModelName.length + 1) : null;
      const persona = forced !== null && forced !== "base" ? forced : null;
      return {
        route: persona ?? "base",
        adapter: persona,
        gateScore: null,
        intent: "unknown",
        arm: null,
        experiment: null,
        reason: forced !== null ? "forced-model" : "no-adapters",
        personaPrompt: null,
        decisionMs: 0,
      };
    },
  };
}

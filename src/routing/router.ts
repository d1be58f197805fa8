/**
 * The PRISM RequestRouter. Precedence, first match wins:
 *   1. `x-prism-route` header (`base` | `<persona>`; `auto` defers to the rest),
 *   2. the model name (`prism:base`, `prism:<persona>`; plain `prism` = auto),
 *   3. a later turn of a known conversation keeps its first route,
 *   4. an A/B experiment arm (`base` / `persona:<p>` force; `routed` lets the gate decide),
 *   5. the gate: every pack's head scores the first user turn; the highest P(apply) above that pack's
 *      threshold wins, else base.
 *
 * Intent reported: the head's top class when its classes are intent names; for binary apply/retain heads,
 * the chosen pack's first served intent when applied, `discriminative` when not (PRISM's reading: persona
 * help is for generative/safety work, not knowledge questions).
 */
import type { AdapterPack } from "../adapters/pack.js";
import type { ExperimentAssigner } from "../ab/experiments.js";
import { InvalidRequestError, ModelNotFoundError } from "../errors.js";
import { featureSpecKey, type GateFeatureExtractor } from "../gate/features.js";
import { conversationOpening, ConversationRoutes } from "./conversation.js";
import type { RequestRouter, RouteDecision, RouteInput, RouteReason } from "./types.js";

const INTENTS = new Set(["generative", "discriminative", "safety"]);

export interface PrismRouterDeps {
  /** The routed model name, e.g. `prism`. */
  readonly servedName: string;
  readonly packs: { snapshot(): readonly AdapterPack[] };
  readonly features: GateFeatureExtractor;
  readonly conversations?: ConversationRoutes;
  readonly experiments?: ExperimentAssigner | null;
}

type Forced = { readonly route: string; readonly reason: RouteReason } | null;

export interface GateScores {
  readonly best: { readonly pack: AdapterPack; readonly score: number; readonly topClass: string } | null;
  readonly chosen: AdapterPack | null;
}

export class PrismRouter implements RequestRouter {
  private readonly conversations: ConversationRoutes;

  constructor(private readonly deps: PrismRouterDeps) {
    this.conversations = deps.conversations ?? new ConversationRoutes();
  }

  /** Model ids this router answers to: `prism`, `prism:base`, `prism:<persona>` for each pack. */
  modelIds(): string[] {
    const n = this.deps.servedName;
    return [n, `${n}:base`, ...this.deps.packs.snapshot().map((p) => `${n}:${p.name}`)];
  }

  private forcedByModel(model: string): Forced {
    const n = this.deps.servedName;
    if (model === n) return null;
    if (model.startsWith(`${n}:`)) return { route: model.slice(n.length + 1), reason: "forced-model" };
    throw new ModelNotFoundError(model);
  }

  private forcedByHeader(header: string | undefined): Forced {
    if (header === undefined) return null;
    const value = header.trim();
    if (value === "" || value === "auto") return null;
    return { route: value, reason: "header" };
  }

  /** Runs every pack's gate on the first user turn; features are extracted once per distinct spec. */
  async score(packs: readonly AdapterPack[], firstUserTurn: string): Promise<GateScores> {
    const featureCache = new Map<string, Promise<Float32Array>>();
    let best: GateScores["best"] = null;
    let chosen: AdapterPack | null = null;
    let chosenScore = -1;
    for (const pack of packs) {
      const spec = pack.gate.features;
      const key = featureSpecKey(spec);
      let features = featureCache.get(key);
      if (!features) {
        features = this.deps.features.extract(spec, firstUserTurn);
        featureCache.set(key, features);
      }
      const out = pack.gate.forward(await features);
      if (!best || out.applyProbability > best.score) best = { pack, score: out.applyProbability, topClass: out.topClass };
      if (out.applyProbability > pack.threshold && out.applyProbability > chosenScore) {
        chosen = pack;
        chosenScore = out.applyProbability;
      }
    }
    return { best, chosen };
  }

  async decide(input: RouteInput): Promise<RouteDecision> {
    const started = performance.now();
    const packs = this.deps.packs.snapshot();
    const byName = new Map(packs.map((p) => [p.name, p]));
    const resolve = (route: string, param: string, reason: RouteReason, extra: Partial<RouteDecision> = {}): RouteDecision => {
      if (route === "base") return this.decision("base", null, reason, started, extra);
      const pack = byName.get(route);
      if (!pack) {
        if (param === "model") throw new ModelNotFoundError(input.model);
        throw new InvalidRequestError(
          `unknown route '${route}' in ${param}; expected auto, base or one of: ${[...byName.keys()].join(", ") || "(no adapters loaded)"}`,
          param,
          "unknown_route",
        );
      }
      return this.decision(route, pack, reason, started, extra);
    };

    const forced = this.forcedByHeader(input.routeHeader) ?? this.forcedByModel(input.model);
    if (forced) return resolve(forced.route, forced.reason === "header" ? "x-prism-route" : "model", forced.reason);

    const opening = conversationOpening(input);
    if (opening.isFollowUp) {
      const remembered = this.conversations.get(opening.key);
      // A remembered persona whose pack was removed falls back to base rather than failing the chat.
      if (remembered) {
        const route = remembered.route === "base" || byName.has(remembered.route) ? remembered.route : "base";
        return resolve(route, "conversation", "conversation", {
          gateScore: remembered.gateScore,
          intent: remembered.intent,
          arm: remembered.arm,
          experiment: remembered.experiment,
        });
      }
    }

    const assignment = this.deps.experiments?.assign(input.user ?? `conversation:${opening.key}`, input.keyId) ?? null;
    const ab = assignment ? { arm: assignment.arm.name, experiment: assignment.experiment } : {};
    let decision: RouteDecision;
    if (assignment && assignment.arm.target !== "routed") {
      const target = assignment.arm.target;
      const route = target === "base" ? "base" : target.slice("persona:".length);
      // An arm naming a pack that is not loaded serves base (and says so) instead of failing users.
      decision = resolve(byName.has(route) ? route : "base", "experiment", "experiment", ab);
    } else if (packs.length === 0) {
      decision = this.decision("base", null, "no-adapters", started, ab);
    } else {
      const { best, chosen } = await this.score(packs, opening.firstUserTurn);
      const gateScore = best?.score ?? null;
      const topClass = best?.topClass ?? "";
      const intent = INTENTS.has(topClass)
        ? topClass
        : chosen
          ? (chosen.manifest.intents[0] ?? "unknown")
          : "discriminative";
      decision = chosen
        ? this.decision(chosen.name, chosen, "gate", started, { gateScore, intent, ...ab })
        : this.decision("base", null, "gate", started, { gateScore, intent, ...ab });
    }
    this.conversations.set(opening.key, {
      route: decision.route,
      gateScore: decision.gateScore,
      intent: decision.intent,
      arm: decision.arm,
      experiment: decision.experiment,
    });
    return decision;
  }

  private decision(
    route: string,
    pack: AdapterPack | null,
    reason: RouteReason,
    started: number,
    extra: Partial<RouteDecision>,
  ): RouteDecision {
    return {
      route,
      adapter: pack && pack.manifest.mode === "lora" ? pack.name : null,
      personaPrompt: pack && pack.manifest.mode === "persona-prompt" ? pack.personaText : null,
      gateScore: extra.gateScore ?? null,
      intent: extra.intent ?? "unknown",
      arm: extra.arm ?? null,
      experiment: extra.experiment ?? null,
      reason,
      decisionMs: performance.now() - started,
    };
  }
}

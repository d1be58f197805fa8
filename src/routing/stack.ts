/**
 * Builds PRISM routing for a served model from explicit deps: the adapter registry (scanned and
 * optionally watched), the gate feature extractor over the model's token embeddings, and the router.
 * `prism serve` and tests pass the result to buildApp as `router` / `personas`.
 */
import type { ExperimentsConfig } from "../ab/experiments.js";
import { ExperimentAssigner } from "../ab/experiments.js";
import { AdapterRegistry, type AdapterEngine, type RegistryEvent } from "../adapters/registry.js";
import { describeServedModel } from "../adapters/served-model.js";
import type { AdapterPackError } from "../errors.js";
import { GateFeatureExtractor, type GateEngine } from "../gate/features.js";
import { TokenEmbeddingTable } from "../gate/token-embeddings.js";
import { PrismRouter } from "./router.js";

export interface PrismRoutingOptions {
  readonly engine: AdapterEngine & GateEngine;
  readonly modelPath: string;
  /** Folder of adapter packs; null = none at start (admin route can add). */
  readonly adaptersDir: string | null;
  readonly servedName: string;
  readonly experiments?: ExperimentsConfig | null;
  /** Watch the adapters folder for added/changed/removed packs. */
  readonly watch?: boolean;
  readonly onEvent?: (event: RegistryEvent) => void;
}

export interface PrismRouting {
  readonly registry: AdapterRegistry;
  readonly router: PrismRouter;
  /** Persona names for the model catalog (`prism:<persona>`). */
  readonly personas: () => readonly string[];
  /** Packs refused at start (the server serves the rest). */
  readonly refused: readonly AdapterPackError[];
  close(): Promise<void>;
}

export async function createPrismRouting(options: PrismRoutingOptions): Promise<PrismRouting> {
  const served = await describeServedModel(options.modelPath);
  const registry = new AdapterRegistry({
    engine: options.engine,
    served,
    adaptersDir: options.adaptersDir,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const { refused } = await registry.scan();
  if (options.watch) registry.watch();
  const features = new GateFeatureExtractor({
    engine: options.engine,
    tokenEmbeddings: await TokenEmbeddingTable.fromGguf(options.modelPath),
  });
  const router = new PrismRouter({
    servedName: options.servedName,
    packs: registry,
    features,
    experiments: options.experiments ? new ExperimentAssigner(options.experiments) : null,
  });
  return {
    registry,
    router,
    personas: () => registry.snapshot().map((p) => p.name),
    refused,
    close: () => registry.close(),
  };
}

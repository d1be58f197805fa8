/**
 * Dependencies that exist only after start-up work (the model must load before adapter packs can), while
 * fastify needs every route registered before it listens. `prism serve` listens first (503 while loading),
 * so routes get a LateBound holder and resolve it per request; until it is set they answer 503.
 */
import { UnavailableError } from "../errors.js";
import type { RequestRouter } from "../routing/types.js";

export class LateBound<T> {
  private value: T | undefined;

  /** @param notReady message of the 503 answered until `set` is called, e.g. "Loading adapters". */
  constructor(private readonly notReady: string) {}

  set(value: T): void {
    this.value = value;
  }

  /** The value, or undefined while start-up is still running. */
  get current(): T | undefined {
    return this.value;
  }

  /** The value; UnavailableError (503) while start-up is still running. */
  get(): T {
    if (this.value === undefined) throw new UnavailableError(this.notReady);
    return this.value;
  }
}

/** A RequestRouter that delegates to the router `resolve` returns (which throws 503 until it is bound). */
export function lateBoundRouter(resolve: () => RequestRouter): RequestRouter {
  return { decide: async (input) => resolve().decide(input) };
}

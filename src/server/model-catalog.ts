/** The model ids this gateway answers to: `<served>`, `<served>:base` and `<served>:<persona>`. */
import { ModelNotFoundError } from "../errors.js";

export interface ModelEntry {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
  /** Adapter variants: the model they derive from. */
  parent: string | null;
  /** The underlying GGUF model. */
  root: string;
}

export class ModelCatalog {
  readonly #created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly servedModelName: string,
    private readonly baseModelName: () => string,
    private readonly personas: () => readonly string[],
  ) {}

  list(): ModelEntry[] {
    const root = this.baseModelName();
    const entry = (id: string, parent: string | null): ModelEntry => ({
      id,
      object: "model",
      created: this.#created,
      owned_by: "prism",
      parent,
      root,
    });
    return [
      entry(this.servedModelName, null),
      entry(`${this.servedModelName}:base`, null),
      ...this.personas().map((p) => entry(`${this.servedModelName}:${p}`, `${this.servedModelName}:base`)),
    ];
  }

  /** Throws ModelNotFoundError for ids this gateway does not serve. */
  get(id: string): ModelEntry {
    const found = this.list().find((m) => m.id === id);
    if (!found) throw new ModelNotFoundError(id);
    return found;
  }
}

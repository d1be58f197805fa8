/**
 * Adapter hot-swap over HTTP, behind an admin key (route option `prismAuth: "admin"`, enforced by the
 * auth plugin). Packs are addressed by NAME only: the folder is always `<adaptersDir>/<name>`, with the
 * name checked by the manifest's name schema, so no request path reaches the file system unchecked.
 *
 *   GET    /admin/adapters          packs served + packs refused (with their problems)
 *   PUT    /admin/adapters/:name    (re)load `<adaptersDir>/<name>` (add or replace, no restart)
 *   DELETE /admin/adapters/:name    stop serving it (in-flight streams finish)
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { packNameSchema } from "../../adapters/manifest.js";
import type { AdapterRegistry } from "../../adapters/registry.js";
import { InvalidRequestError } from "../../errors.js";

export interface AdminAdapterRoutesOptions {
  /** Or a getter (prism serve: packs load after the model) that throws UnavailableError (503) until ready. */
  readonly registry: AdapterRegistry | (() => AdapterRegistry);
  readonly adaptersDir: string;
}

function packName(params: unknown): string {
  const parsed = packNameSchema.safeParse((params as { name?: unknown }).name);
  if (!parsed.success) throw new InvalidRequestError(`invalid adapter name: ${parsed.error.issues[0]?.message ?? "bad name"}`, "name");
  return parsed.data;
}

export function registerAdminAdapterRoutes(app: FastifyInstance, options: AdminAdapterRoutesOptions): void {
  const registryOf = (): AdapterRegistry => (typeof options.registry === "function" ? options.registry() : options.registry);
  const admin = { config: { prismAuth: "admin" as const } };

  app.get("/admin/adapters", admin, async () => ({
    object: "list",
    data: registryOf().snapshot().map((p) => ({
      name: p.name,
      mode: p.manifest.mode,
      intents: p.manifest.intents,
      threshold: p.threshold,
      features: p.gate.features,
      lora: p.manifest.lora?.file ?? null,
      loaded_at: new Date(p.loadedAt).toISOString(),
    })),
    refused: registryOf().refusals(),
  }));

  app.put("/admin/adapters/:name", admin, async (request) => {
    const name = packName(request.params);
    const pack = await registryOf().load(join(options.adaptersDir, name));
    return { name: pack.name, mode: pack.manifest.mode, loaded: true };
  });

  app.delete("/admin/adapters/:name", admin, async (request) => {
    const name = packName(request.params);
    await registryOf().remove(name);
    return { name, deleted: true };
  });
}

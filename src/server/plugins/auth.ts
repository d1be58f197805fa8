import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { AuthConfig } from "../../config/sections/auth.js";
import { AuthenticationError, PermissionDeniedError } from "../../errors.js";
import type { GatewayMetrics } from "../../telemetry/metrics.js";
import type { ApiKeyStore, AuthenticatedKey } from "./auth-keys.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated caller; null on public routes and when auth is off. */
    apiKey: AuthenticatedKey | null;
  }
  interface FastifyContextConfig {
    /** Route-level override: `public` needs no key, `admin` needs an admin key. */
    prismAuth?: "public" | "admin";
  }
}

export interface AuthPluginOptions {
  readonly keys: ApiKeyStore;
  readonly config: Pick<AuthConfig, "publicPaths" | "adminPathPrefixes">;
  readonly metrics?: GatewayMetrics;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The access class of a request, decided on the matched route template (never the raw URL, which could be crafted). */
export function accessOf(
  request: FastifyRequest,
  config: Pick<AuthConfig, "publicPaths" | "adminPathPrefixes">,
): "public" | "api" | "admin" {
  const override = request.routeOptions.config?.prismAuth;
  if (override !== undefined) return override;
  const route = request.routeOptions.url;
  if (route === undefined) return "api"; // unmatched: a 404 only for callers with a key
  if (config.publicPaths.includes(route)) return "public";
  if (config.adminPathPrefixes.some((p) => route === p || route.startsWith(`${p}/`))) return "admin";
  return "api";
}

const authPlugin: FastifyPluginAsync<AuthPluginOptions> = async (app, { keys, config, metrics }) => {
  app.decorateRequest("apiKey", null);
  if (!keys.enabled) {
    app.log.warn("no API keys configured: authentication is OFF (set PRISM_API_KEYS or auth.keysFile)");
    return;
  }
  app.addHook("onRequest", async (request) => {
    // CORS preflights carry no credentials by design.
    if (request.method === "OPTIONS") return;
    const access = accessOf(request, config);
    if (access === "public") return;
    const header = request.headers.authorization;
    const token = header === undefined ? null : (BEARER.exec(header)?.[1] ?? null);
    if (token === null) {
      metrics?.observeRejection("auth");
      throw new AuthenticationError(
        "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'.",
      );
    }
    const key = keys.authenticate(token);
    if (key === null) {
      metrics?.observeRejection("auth");
      throw new AuthenticationError("Incorrect API key provided.");
    }
    if (access === "admin" && !key.admin) {
      metrics?.observeRejection("forbidden");
      throw new PermissionDeniedError("This route needs an admin API key.");
    }
    request.apiKey = key;
  });
};

/** API-key authentication (`Authorization: Bearer`); 401/403 via the typed errors of src/errors.ts. */
export default fp(authPlugin, { name: "prism-auth", fastify: "5.x" });

import fastifyCors from "@fastify/cors";
import type { FastifyPluginAsync } from "fastify";
import fp from "fastify-plugin";
import type { CorsConfig } from "../../config/sections/cors.js";

export interface CorsPluginOptions {
  readonly config: CorsConfig;
}

const corsPlugin: FastifyPluginAsync<CorsPluginOptions> = async (app, { config }) => {
  if (config.origins.length === 0) return; // off: no CORS headers, browsers block cross-origin calls
  await app.register(fastifyCors, {
    origin: config.origins.includes("*") ? "*" : config.origins,
    methods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowedHeaders: ["authorization", "content-type", "x-request-id", "x-prism-route", "x-prism-user"],
    exposedHeaders: ["x-request-id", "retry-after", "x-prism-route", "x-prism-adapter", "x-prism-arm"],
    maxAge: config.maxAgeSeconds,
  });
};

/** CORS for browser clients; does nothing unless `cors.origins` is configured. */
export default fp(corsPlugin, { name: "prism-cors", fastify: "5.x" });

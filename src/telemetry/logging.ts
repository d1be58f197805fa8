import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { LogController, type FastifyServerOptions } from "fastify";
import type { TelemetryConfig } from "../config/sections/telemetry.js";

/** Header carrying the request id in and out (the SDKs log `x-request-id` of failed calls). */
export const REQUEST_ID_HEADER = "x-request-id";

// A client-supplied id is kept only if it is short and plain, so it cannot bloat or forge log lines.
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `x-request-id` when well-formed, else a fresh one. */
export function requestIdFor(req: IncomingMessage): string {
  const header = req.headers[REQUEST_ID_HEADER];
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && CLIENT_REQUEST_ID.test(value) ? value : `req_${randomUUID().replaceAll("-", "")}`;
}

export interface LogDestination {
  write(line: string): void;
}

/**
 * Fastify server options for structured JSON logs (pino) with request ids. Request bodies are never
 * serialized by fastify's logger; secrets in headers are redacted in case a handler logs them. Prompt and
 * completion text is logged only by the telemetry plugin and only when `logContent` is on.
 */
export function loggingServerOptions(
  config: Pick<TelemetryConfig, "logLevel">,
  destination?: LogDestination,
): Pick<FastifyServerOptions, "logger" | "genReqId" | "requestIdHeader" | "logController"> {
  return {
    logger: {
      level: config.logLevel,
      redact: {
        paths: ["req.headers.authorization", 'req.headers["x-api-key"]', "headers.authorization"],
        censor: "[redacted]",
      },
      ...(destination !== undefined ? { stream: destination } : {}),
    },
    // fastify would trust the header blindly; genReqId validates it instead.
    requestIdHeader: false,
    genReqId: requestIdFor,
    logController: new LogController({ requestIdLogLabel: "requestId" }),
  };
}

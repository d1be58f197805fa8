/**
 * The one place that turns errors into HTTP statuses and OpenAI-shaped bodies
 * (`{error:{message,type,param,code}}`, all four keys always present).
 */
import { ZodError } from "zod";
import {
  AdapterPackError,
  AuthenticationError,
  ClientAbortedError,
  ContextLengthExceededError,
  InvalidRequestError,
  ModelNotFoundError,
  NotFoundError,
  OverloadedError,
  PermissionDeniedError,
  PrismError,
  RequestTimeoutError,
  UnavailableError,
} from "../errors.js";

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface MappedError {
  readonly status: number;
  readonly body: OpenAIErrorBody;
  readonly headers: Record<string, string>;
}

const body = (message: string, type: string, param: string | null = null, code: string | null = null): OpenAIErrorBody => ({
  error: { message, type, param, code },
});

/** `messages.0.content` → `messages[0].content`, as OpenAI names fields. */
export function paramOf(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}

function retryHeaders(ms: number): Record<string, string> {
  return { "retry-after": String(Math.max(1, Math.ceil(ms / 1000))), "retry-after-ms": String(Math.ceil(ms)), "x-should-retry": "true" };
}

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: unknown;
}

export function mapError(error: unknown): MappedError {
  if (error instanceof ZodError) {
    const issue = error.issues[0];
    const param = issue ? paramOf(issue.path) : null;
    const message = error.issues
      .slice(0, 5)
      .map((i) => `${paramOf(i.path) ?? "body"}: ${i.message}`)
      .join("; ");
    return { status: 400, body: body(message, "invalid_request_error", param, "invalid_value"), headers: {} };
  }
  if (error instanceof PrismError) return mapPrismError(error);
  const e = error as FastifyLikeError;
  const status = typeof e?.statusCode === "number" ? e.statusCode : 500;
  if (status === 413 || e?.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return { status: 413, body: body("Request body too large.", "invalid_request_error", null, "request_too_large"), headers: {} };
  }
  if (status === 429) {
    return { status: 429, body: body(e.message, "rate_limit_error", null, "rate_limit_exceeded"), headers: { "x-should-retry": "true" } };
  }
  if (status >= 400 && status < 500) {
    const code = e?.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e?.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ? "invalid_json" : (e?.code ?? null);
    const message = code === "invalid_json" ? `We could not parse the JSON body of your request. (${e.message})` : e.message;
    return { status, body: body(message, "invalid_request_error", null, code), headers: {} };
  }
  return { status: 500, body: body("The server had an error while processing your request.", "server_error"), headers: {} };
}

function mapPrismError(error: PrismError): MappedError {
  if (error instanceof InvalidRequestError) {
    return { status: 400, body: body(error.message, "invalid_request_error", error.param, error.code), headers: {} };
  }
  if (error instanceof ContextLengthExceededError) {
    return { status: 400, body: body(error.message, "invalid_request_error", "messages", "context_length_exceeded"), headers: {} };
  }
  if (error instanceof ModelNotFoundError) {
    return { status: 404, body: body(error.message, "invalid_request_error", "model", "model_not_found"), headers: {} };
  }
  if (error instanceof NotFoundError) {
    return { status: 404, body: body(error.message, "invalid_request_error", null, "not_found"), headers: {} };
  }
  if (error instanceof AuthenticationError) {
    return { status: 401, body: body(error.message, "invalid_request_error", null, "invalid_api_key"), headers: {} };
  }
  if (error instanceof PermissionDeniedError) {
    return { status: 403, body: body(error.message, "invalid_request_error", null, "permission_denied"), headers: {} };
  }
  if (error instanceof OverloadedError) {
    return { status: 429, body: body(error.message, "rate_limit_error", null, error.code), headers: retryHeaders(error.retryAfterMs) };
  }
  if (error instanceof RequestTimeoutError) {
    // 429 (not 408/504): the request was never started, so retrying later is safe and no 5xx is produced.
    return { status: 429, body: body(error.message, "rate_limit_error", null, "queue_timeout"), headers: retryHeaders(1000) };
  }
  if (error instanceof UnavailableError) {
    return { status: 503, body: body(error.message, "unavailable_error", null, "unavailable"), headers: retryHeaders(error.retryAfterMs) };
  }
  if (error instanceof AdapterPackError) {
    return { status: 400, body: body(error.message, "invalid_request_error", null, "adapter_pack_invalid"), headers: {} };
  }
  if (error instanceof ClientAbortedError) {
    // Nobody is listening; 499 is only for logs and metrics.
    return { status: 499, body: body(error.message, "invalid_request_error", null, "client_closed_request"), headers: {} };
  }
  return { status: 400, body: body(error.message, "invalid_request_error", null, error.kind), headers: {} };
}

/**
 * Domain errors. Every module throws these (never bare `Error` for expected failures);
 * `src/server/error-mapping.ts` is the one place that turns them into HTTP statuses and
 * OpenAI-shaped bodies. Each class says *what* went wrong, not how to present it.
 */

export abstract class PrismError extends Error {
  abstract readonly kind: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request field is missing, of the wrong type or out of range. `param` names it (dot path). */
export class InvalidRequestError extends PrismError {
  readonly kind = "invalid_request";
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** The prompt does not fit the model's context window. */
export class ContextLengthExceededError extends PrismError {
  readonly kind = "context_length_exceeded";
  constructor(
    readonly promptTokens: number,
    readonly contextSize: number,
  ) {
    super(
      `This model's maximum context length is ${contextSize} tokens, but the prompt has ${promptTokens} tokens.`,
    );
  }
}

export class ModelNotFoundError extends PrismError {
  readonly kind = "model_not_found";
  constructor(readonly model: string) {
    super(`The model '${model}' does not exist or you do not have access to it.`);
  }
}

export class NotFoundError extends PrismError {
  readonly kind = "not_found";
}

export class AuthenticationError extends PrismError {
  readonly kind = "authentication";
}

export class PermissionDeniedError extends PrismError {
  readonly kind = "permission_denied";
}

/** The request cannot be admitted now (queue full, rate or token budget spent). */
export class OverloadedError extends PrismError {
  readonly kind = "overloaded";
  constructor(
    message: string,
    readonly retryAfterMs: number,
    readonly code: string = "rate_limit_exceeded",
  ) {
    super(message);
  }
}

/** The server is loading a model or draining for shutdown. */
export class UnavailableError extends PrismError {
  readonly kind = "unavailable";
  constructor(
    message: string,
    readonly retryAfterMs = 1000,
  ) {
    super(message);
  }
}

/** The request's deadline passed before it could be served. */
export class RequestTimeoutError extends PrismError {
  readonly kind = "timeout";
}

/** The client went away; nothing to answer. */
export class ClientAbortedError extends PrismError {
  readonly kind = "client_aborted";
}

/** A GGUF file is malformed or uses something we do not support. */
export class GgufError extends PrismError {
  readonly kind = "gguf";
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${reason}`, options);
  }
}

/** An adapter pack is invalid (missing file, wrong base model, bad manifest...). */
export class AdapterPackError extends PrismError {
  readonly kind = "adapter_pack";
  constructor(
    readonly pack: string,
    readonly problems: readonly string[],
  ) {
    super(`adapter pack '${pack}' refused: ${problems.join("; ")}`);
  }
}

/** Configuration could not be parsed; lists every problem at once. */
export class ConfigError extends PrismError {
  readonly kind = "config";
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

/** Fetching a model failed from every source; `attempts` says what was tried and why it failed. */
export class ModelResolveError extends PrismError {
  readonly kind = "model_resolve";
  constructor(
    readonly model: string,
    readonly attempts: readonly string[],
  ) {
    super(`could not obtain model '${model}':\n  - ${attempts.join("\n  - ")}`);
  }
}

/** A bootstrap run cannot go on: bad persona files, a corrupt run folder, a stage with nothing to work on. */
export class BootstrapError extends PrismError {
  readonly kind = "bootstrap";
}

/** LoRA distillation or adapter import failed (bad data, diverged training, incompatible adapter). */
export class DistillError extends PrismError {
  readonly kind = "distill";
}

/**
 * Validates real HTTP responses against `openapi.yaml` (and, where the route exists there too, against
 * OpenAI's own spec in ../shared/specs) with ajv. `fetch` is a drop-in for the `openai` SDK's `fetch` option
 * and for raw calls: every response body is checked against the schema documented for its method, path,
 * status and content type; each SSE `data:` event against the operation's `x-sse-data` schema; required
 * response headers must be present. Failures are collected, not thrown, so a test can assert on them.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";

interface MediaObject {
  schema?: unknown;
  "x-sse-data"?: unknown;
}
interface HeaderObject {
  required?: boolean;
  $ref?: string;
}
interface ResponseObject {
  $ref?: string;
  headers?: Record<string, HeaderObject>;
  content?: Record<string, MediaObject>;
}
interface OperationObject {
  responses: Record<string, ResponseObject>;
}
interface OpenApiDocument {
  paths: Record<string, Record<string, OperationObject>>;
  components?: Record<string, Record<string, unknown>>;
}

const PRISM_SPEC = resolve("openapi.yaml");
/** OpenAI's spec (servers: https://api.openai.com/v1, so its paths have no /v1 prefix). */
const OPENAI_SPEC = resolve("../shared/specs/openai-openapi.yaml");

/** One loaded spec: ajv with the document registered, and lookups from a request to its schemas. */
class SpecSchemas {
  readonly #ajv: Ajv2020;
  readonly #doc: OpenApiDocument;
  readonly #routes: { regex: RegExp; path: string }[];
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor(
    readonly name: string,
    file: string,
    private readonly pathPrefix: string,
  ) {
    this.#doc = normalizeNullable(parseYaml(readFileSync(file, "utf8"), { maxAliasCount: -1 })) as OpenApiDocument;
    // OpenAPI documents carry keywords ajv does not know (x-*, example, discriminator...): not strict.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
    addFormats.default(this.#ajv);
    this.#ajv.addFormat("unixtime", true);
    this.#ajv.addSchema(this.#doc as object, name);
    this.#routes = Object.keys(this.#doc.paths).map((path) => ({
      path,
      regex: new RegExp(`^${pathPrefix}${path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+")}$`),
    }));
  }

  #deref<T>(value: T & { $ref?: string }): T {
    if (!value.$ref) return value;
    const parts = value.$ref.replace(/^#\//, "").split("/");
    let node: unknown = this.#doc;
    for (const part of parts) node = (node as Record<string, unknown>)[part];
    return node as T;
  }

  /** The response object for a request, or null when the spec does not have the path at all. */
  response(method: string, pathname: string, status: number): { path: string; response: ResponseObject | undefined } | null {
    const route = this.#routes.find((r) => r.regex.test(pathname));
    if (!route) return null;
    const operation = this.#doc.paths[route.path]?.[method.toLowerCase()];
    const response = operation?.responses[String(status)] ?? operation?.responses.default;
    return { path: route.path, response: response ? this.#deref(response) : undefined };
  }

  requiredHeaders(response: ResponseObject): string[] {
    return Object.entries(response.headers ?? {})
      .filter(([, header]) => this.#deref(header).required === true)
      .map(([name]) => name.toLowerCase());
  }

  /** Validator for a schema found at `pointer` (JSON pointer into the document). */
  validator(pointer: string): ValidateFunction {
    let fn = this.#compiled.get(pointer);
    if (!fn) {
      fn = this.#ajv.getSchema(`${this.name}#${pointer}`);
      if (!fn) throw new Error(`${this.name}: no schema at ${pointer}`);
      this.#compiled.set(pointer, fn);
    }
    return fn;
  }

  pointerOf(method: string, path: string, status: number, response: ResponseObject, contentType: string, key: "schema" | "x-sse-data"): string | null {
    const media = response.content?.[contentType];
    if (!media?.[key]) return null;
    const responseKey = this.#doc.paths[path]![method.toLowerCase()]!.responses[String(status)] ? String(status) : "default";
    const raw = this.#doc.paths[path]![method.toLowerCase()]!.responses[responseKey]!;
    const base = raw.$ref ? raw.$ref.slice(1) : `/paths/${escapePointer(path)}/${method.toLowerCase()}/responses/${responseKey}`;
    return `${base}/content/${escapePointer(contentType)}/${escapePointer(key)}`;
  }
}

/**
 * OpenAI's 3.1 document still uses OpenAPI 3.0's `nullable: true` in places, which JSON Schema 2020-12 does not
 * know: rewrite it as `type: [T, "null"]`, or `anyOf: [schema, {type: "null"}]` when there is no single type.
 */
function normalizeNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normalizeNullable);
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = normalizeNullable(value);
  if (out.nullable !== true) return out;
  delete out.nullable;
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...(out.enum as unknown[]), null];
  if (typeof out.type === "string") return { ...out, type: [out.type, "null"] };
  return { anyOf: [out, { type: "null" }] };
}

/**
 * Where OpenAI's API answers something its own spec does not describe: `encoding_format: "base64"` embeddings
 * are strings, but the spec types `embedding` as a number array only. Such bodies are checked by openapi.yaml.
 */
function openAiSpecGap(path: string, body: unknown): boolean {
  const data = (body as { data?: { embedding?: unknown }[] } | null)?.data;
  return path === "/embeddings" && Array.isArray(data) && typeof data[0]?.embedding === "string";
}

/** Parsing and compiling OpenAI's 87k-line spec takes seconds: once per test file, shared by its validators. */
const loadedSpecs = new Map<string, SpecSchemas>();
function loadSpec(name: string, file: string, pathPrefix: string): SpecSchemas {
  let spec = loadedSpecs.get(file);
  if (!spec) loadedSpecs.set(file, (spec = new SpecSchemas(name, file, pathPrefix)));
  return spec;
}

const escapePointer = (s: string): string => s.replace(/~/g, "~0").replace(/\//g, "~1");

export interface ValidationFailure {
  readonly spec: string;
  readonly request: string;
  readonly problem: string;
}

export class OpenApiValidator {
  readonly failures: ValidationFailure[] = [];
  /** Bodies (and SSE events) validated, per spec: proves the checks ran. */
  readonly checked: Record<string, number> = {};
  readonly #specs: SpecSchemas[];
  readonly #pending = new Set<Promise<void>>();

  constructor() {
    this.#specs = [loadSpec("prism", PRISM_SPEC, "")];
    if (existsSync(OPENAI_SPEC)) this.#specs.push(loadSpec("openai", OPENAI_SPEC, "/v1"));
  }

  /**
   * A `fetch` that validates every response it returns. The caller reads the same bytes through a pass-through
   * body (not `clone()`: a tee keeps the connection open after the caller cancels, so an SDK `break` would not
   * reach the server). The caller must consume or cancel the body for the check to finish.
   */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const response = await fetch(input, init);
    const { body, read } = passThrough(response);
    const job = this.#check(request.method, new URL(request.url).pathname, response, read).finally(() => this.#pending.delete(job));
    this.#pending.add(job);
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };

  /** Waits for every in-flight check; returns the failures collected since the last call (and forgets them). */
  async settle(): Promise<ValidationFailure[]> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    return this.failures.splice(0);
  }

  #fail(spec: string, request: string, problem: string): void {
    this.failures.push({ spec, request, problem });
  }

  async #check(method: string, pathname: string, response: Response, read: Promise<BodyRead>): Promise<void> {
    const label = `${method} ${pathname} → ${response.status}`;
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim();
    const { text, complete } = await read;
    for (const spec of this.#specs) {
      const found = spec.response(method, pathname, response.status);
      if (!found) {
        if (spec.name === "prism" && response.status !== 404) this.#fail(spec.name, label, "path not documented");
        continue;
      }
      // OpenAI's spec documents success bodies only; its errors are the generic ErrorResponse.
      if (!found.response) {
        if (spec.name === "prism") this.#fail(spec.name, label, `status ${response.status} not documented`);
        continue;
      }
      if (spec.name === "prism") {
        for (const header of spec.requiredHeaders(found.response)) {
          if (!response.headers.has(header)) this.#fail(spec.name, label, `required header ${header} missing`);
        }
      }
      if (contentType === "text/event-stream") this.#checkSse(spec, method, found.path, response.status, found.response, label, text, complete);
      else if (complete) this.#checkBody(spec, method, found.path, response.status, found.response, label, contentType, text);
    }
  }

  #checkBody(spec: SpecSchemas, method: string, path: string, status: number, response: ResponseObject, label: string, contentType: string, text: string): void {
    const pointer = spec.pointerOf(method, path, status, response, contentType, "schema");
    if (!pointer) {
      if (spec.name === "prism") this.#fail(spec.name, label, `content type '${contentType}' not documented`);
      return;
    }
    let body: unknown = text;
    if (contentType === "application/json") {
      try {
        body = JSON.parse(text);
      } catch {
        this.#fail(spec.name, label, "body is not JSON");
        return;
      }
    }
    if (spec.name === "openai" && openAiSpecGap(path, body)) return;
    this.#validate(spec, pointer, body, label);
  }

  #checkSse(spec: SpecSchemas, method: string, path: string, status: number, response: ResponseObject, label: string, text: string, complete: boolean): void {
    // Ours names the per-event schema `x-sse-data`; OpenAI's spec puts it in `schema`.
    const pointer = spec.pointerOf(method, path, status, response, "text/event-stream", spec.name === "prism" ? "x-sse-data" : "schema");
    if (!pointer) {
      if (spec.name === "prism") this.#fail(spec.name, label, "text/event-stream has no x-sse-data schema");
      return;
    }
    // A cut stream's last event may be partial: only whole events (ended by a blank line) count.
    const events = text.split("\n\n").slice(0, complete ? undefined : -1).filter((e) => e.length > 0);
    let sawDone = false;
    let sawError = false;
    for (const event of events) {
      for (const line of event.split("\n")) {
        if (line.startsWith(":") || line === "") continue; // keep-alive comments
        if (!line.startsWith("data: ")) {
          this.#fail(spec.name, label, `unexpected SSE line '${line.slice(0, 60)}'`);
          continue;
        }
        const data = line.slice(6);
        if (data === "[DONE]") {
          sawDone = true;
          continue;
        }
        if (sawDone) this.#fail(spec.name, label, "data after [DONE]");
        let parsed: { error?: unknown };
        try {
          parsed = JSON.parse(data) as { error?: unknown };
        } catch {
          this.#fail(spec.name, label, `SSE data is not JSON: '${data.slice(0, 60)}'`);
          continue;
        }
        if (parsed.error) sawError = true;
        // OpenAI's spec has no mid-stream error event; its errors are ErrorResponse bodies.
        const eventPointer = parsed.error && spec.name === "openai" ? "/components/schemas/ErrorResponse" : pointer;
        this.#validate(spec, eventPointer, parsed, `${label} (SSE event)`);
      }
    }
    if (complete && !sawDone && !sawError) this.#fail(spec.name, label, "stream ended without data: [DONE] or an error event");
  }

  #validate(spec: SpecSchemas, pointer: string, body: unknown, label: string): void {
    const validate = spec.validator(pointer);
    this.checked[spec.name] = (this.checked[spec.name] ?? 0) + 1;
    if (!validate(body)) {
      const errors = (validate.errors ?? []).slice(0, 4).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}`);
      this.#fail(spec.name, label, `${errors.join("; ")} in ${JSON.stringify(body).slice(0, 300)}`);
    }
  }
}

interface BodyRead {
  readonly text: string;
  /** False when the body was cancelled or cut before its end (aborted stream). */
  readonly complete: boolean;
}

/** A body that forwards the response's bytes to its reader and records them; cancel propagates to the socket. */
function passThrough(response: Response): { body: ReadableStream<Uint8Array> | null; read: Promise<BodyRead> } {
  if (!response.body) return { body: null, read: Promise.resolve({ text: "", complete: true }) };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let finish!: (complete: boolean) => void;
  const read = new Promise<BodyRead>((resolve) => {
    finish = (complete) => resolve({ text: text + decoder.decode(), complete });
  });
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          finish(true);
          controller.close();
          return;
        }
        text += decoder.decode(value, { stream: true });
        controller.enqueue(value);
      } catch (error) {
        finish(false);
        controller.error(error);
      }
    },
    async cancel(reason) {
      finish(false);
      await reader.cancel(reason);
    },
  });
  return { body, read };
}

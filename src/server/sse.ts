/** Server-sent events on a hijacked reply, in the framing the OpenAI SDKs parse. */
import type { ServerResponse } from "node:http";

export class SseWriter {
  #closed = false;

  constructor(private readonly raw: ServerResponse) {
    raw.on("close", () => (this.#closed = true));
  }

  get closed(): boolean {
    return this.#closed || this.raw.writableEnded;
  }

  open(status: number, headers: Record<string, string>): void {
    this.raw.writeHead(status, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    this.raw.flushHeaders();
  }

  data(payload: unknown): void {
    if (!this.closed) this.raw.write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  /** A comment line: clients ignore it; keeps proxies from timing out during long prefills. */
  comment(text = "keep-alive"): void {
    if (!this.closed) this.raw.write(`: ${text}\n\n`);
  }

  done(): void {
    if (!this.closed) this.raw.end("data: [DONE]\n\n");
  }

  end(): void {
    if (!this.closed) this.raw.end();
  }
}

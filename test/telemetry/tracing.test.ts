import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { ATTR, SPAN } from "../../src/telemetry/request-telemetry.js";
import { createTracing, otlpTraceExportRequested } from "../../src/telemetry/tracing.js";
import { startOpsApp } from "../ops/ops-app.js";

describe("request traces", () => {
  it("records one trace per request with a span per phase and the routing/usage attributes", async () => {
    const exporter = new InMemorySpanExporter();
    const ops = await startOpsApp({ spanExporter: exporter, usage: { promptTokens: 9, completionTokens: 3 } });
    try {
      const res = await fetch(`${ops.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
      });
      expect(res.status).toBe(200);
      await res.text();
      await waitFor(() => exporter.getFinishedSpans().some((s) => s.name.startsWith("POST")));

      const spans = exporter.getFinishedSpans();
      const root = spans.find((s) => s.name === "POST /v1/chat/completions") as ReadableSpan;
      expect(root.kind).toBe(SpanKind.SERVER);
      expect(root.attributes).toMatchObject({
        [ATTR.httpRoute]: "/v1/chat/completions",
        [ATTR.httpStatus]: 200,
        [ATTR.route]: "writing",
        [ATTR.adapter]: "writing",
        [ATTR.arm]: "treatment",
        [ATTR.experiment]: "exp1",
        [ATTR.tokensIn]: 9,
        [ATTR.tokensOut]: 3,
        [ATTR.finishReason]: "stop",
        [ATTR.requestId]: res.headers.get("x-request-id"),
      });
      const traceId = root.spanContext().traceId;
      const children = spans.filter((s) => s !== root);
      expect(children.map((s) => s.name).sort()).toEqual(
        [SPAN.validation, SPAN.gate, SPAN.queueWait, SPAN.promptProcessing, SPAN.generation].sort(),
      );
      for (const child of children) {
        expect(child.spanContext().traceId).toBe(traceId);
        expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
      }
      const generation = children.find((s) => s.name === SPAN.generation) as ReadableSpan;
      expect(generation.attributes).toMatchObject({ [ATTR.tokensOut]: 3, [ATTR.finishReason]: "stop" });
      // The queue-wait span is back-dated by the engine's reported wait (5 ms in the script).
      const queue = children.find((s) => s.name === SPAN.queueWait) as ReadableSpan;
      const queueMs = (queue.endTime[0] - queue.startTime[0]) * 1e3 + (queue.endTime[1] - queue.startTime[1]) / 1e6;
      expect(queueMs).toBeGreaterThanOrEqual(4);
    } finally {
      await ops.close();
    }
  });

  it("continues the client's trace from a W3C traceparent header", async () => {
    const exporter = new InMemorySpanExporter();
    const ops = await startOpsApp({ spanExporter: exporter });
    try {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const res = await fetch(`${ops.url}/health`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      await res.text();
      await waitFor(() => exporter.getFinishedSpans().length > 0);
      const root = exporter.getFinishedSpans()[0] as ReadableSpan;
      expect(root.spanContext().traceId).toBe(traceId);
      expect(root.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    } finally {
      await ops.close();
    }
  });
});

describe("tracer selection", () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (k.startsWith("OTEL_")) delete process.env[k];
    Object.assign(process.env, saved);
  });

  it("is a no-op without an OTLP endpoint", () => {
    expect(otlpTraceExportRequested({})).toBe(false);
    expect(otlpTraceExportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toBe(true);
    expect(otlpTraceExportRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(true);
    expect(otlpTraceExportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" })).toBe(
      false,
    );
    expect(otlpTraceExportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" })).toBe(
      false,
    );
    const tracing = createTracing({ serviceName: "t", env: {} });
    expect(tracing.enabled).toBe(false);
    const span = tracing.tracer.startSpan("x");
    expect(span.isRecording()).toBe(false);
    span.end();
  });

  it("exports spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
    const received: { url: string | undefined; bytes: number; type: string | undefined }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      let bytes = 0;
      req.on("data", (chunk: Buffer) => (bytes += chunk.length));
      req.on("end", () => {
        received.push({ url: req.url, bytes, type: req.headers["content-type"] });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
    try {
      const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
      const tracing = createTracing({ serviceName: "prism-test", env: process.env });
      expect(tracing.enabled).toBe(true);
      tracing.tracer.startSpan("exported").end();
      await tracing.shutdown(); // flushes the batch
      expect(received.length).toBeGreaterThan(0);
      expect(received[0]?.url).toBe("/v1/traces");
      expect(received[0]?.bytes).toBeGreaterThan(0);
    } finally {
      await new Promise((r) => collector.close(r));
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

import { describe, expect, it } from "vitest";
import type { EngineEvent, EngineStats } from "../../src/engine/types.js";
import { GatewayMetrics } from "../../src/telemetry/metrics.js";
import { startOpsApp } from "../ops/ops-app.js";

const KEY = "sk-a-0123456789abcdef";

/** The value of one sample line (`name{labels} value`) in a Prometheus text exposition; NaN when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe("/metrics after traffic", () => {
  it("counts requests by route, status, arm and adapter, rejections, gate latency and inter-token gaps", async () => {
    const ops = await startOpsApp({ keys: [{ key: KEY, admin: false }], usage: { promptTokens: 5, completionTokens: 4 } });
    try {
      const chat = (key?: string) =>
        fetch(`${ops.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
        });
      const before = await (await fetch(`${ops.url}/metrics`)).text();
      const ok = 'prism_requests_total{route="/v1/chat/completions",method="POST",status="200",arm="treatment",adapter="writing"}';
      expect(sample(before, ok)).toBeNaN();

      for (let i = 0; i < 3; i++) expect((await chat(KEY)).status).toBe(200);
      expect((await chat()).status).toBe(401);

      const res = await fetch(`${ops.url}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const after = await res.text();
      expect(sample(after, ok)).toBe(3);
      expect(
        sample(after, 'prism_requests_total{route="/v1/chat/completions",method="POST",status="401",arm="none",adapter="none"}'),
      ).toBe(1);
      expect(sample(after, 'prism_rejected_requests_total{reason="auth"}')).toBe(1);
      expect(sample(after, 'prism_route_decisions_total{route="writing",reason="gate"}')).toBe(3);
      expect(sample(after, 'prism_gate_decision_seconds_count{reason="gate"}')).toBe(3);
      // 4 tokens per request → 3 gaps between them.
      expect(sample(after, 'prism_inter_token_latency_seconds_count{adapter="writing"}')).toBe(9);
      expect(sample(after, 'prism_request_duration_seconds_count{route="/v1/chat/completions",status="200"}')).toBe(3);
      // The previous scrape counted itself.
      expect(sample(after, 'prism_requests_total{route="/metrics",method="GET",status="200",arm="none",adapter="none"}')).toBe(1);
    } finally {
      await ops.close();
    }
  });
});

describe("GatewayMetrics", () => {
  it("reads queue depth and active sequences from the engine at scrape time", async () => {
    const metrics = new GatewayMetrics();
    let stats: EngineStats = { state: "loading", queueDepth: 0, activeSequences: 0, contexts: [] };
    metrics.setEngineStatsSource(() => stats);
    let text = await metrics.scrape();
    expect(sample(text, "prism_queue_depth")).toBe(0);
    expect(sample(text, "prism_engine_ready")).toBe(0);

    stats = {
      state: "ready",
      queueDepth: 7,
      activeSequences: 3,
      contexts: [
        { adapter: null, activeSequences: 2, maxSequences: 4, queued: 5, retiring: false },
        { adapter: "writing", activeSequences: 1, maxSequences: 4, queued: 2, retiring: false },
        { adapter: "old", activeSequences: 0, maxSequences: 4, queued: 0, retiring: true },
      ],
    };
    text = await metrics.scrape();
    expect(sample(text, "prism_queue_depth")).toBe(7);
    expect(sample(text, "prism_active_sequences")).toBe(3);
    expect(sample(text, "prism_sequence_capacity")).toBe(8);
    expect(sample(text, "prism_engine_ready")).toBe(1);
    expect(sample(text, 'prism_context_queue_depth{adapter="none"}')).toBe(5);
    expect(sample(text, 'prism_context_queue_depth{adapter="writing"}')).toBe(2);
  });

  it("turns engine events into token, TTFT, queue-wait, adapter and model-load metrics", async () => {
    const metrics = new GatewayMetrics();
    const events: EngineEvent[] = [
      {
        type: "model_loaded",
        ms: 1234,
        model: {
          name: "SmolLM2",
          path: "/m.gguf",
          architecture: "llama",
          contextSize: 2048,
          trainContextSize: 8192,
          embeddingSize: 576,
          vocabularySize: 49152,
          layerCount: 30,
          sizeBytes: 1,
          decodeAhead: false,
        },
      },
      { type: "adapter_loaded", name: "writing", ms: 50 },
      { type: "adapter_load_failed", name: "broken", message: "bad gguf" },
      { type: "adapter_unloaded", name: "writing" },
      {
        type: "generation_finished",
        adapter: "writing",
        finishReason: "length",
        usage: { promptTokens: 11, completionTokens: 16 },
        queueMs: 20,
        ttftMs: 150,
        totalMs: 900,
      },
      {
        type: "generation_finished",
        adapter: null,
        finishReason: "aborted",
        usage: { promptTokens: 4, completionTokens: 0 },
        queueMs: 0,
        ttftMs: null,
        totalMs: 10,
      },
    ];
    for (const e of events) metrics.observeEngineEvent(e);
    const text = await metrics.scrape();
    expect(sample(text, 'prism_model_load_seconds{model="SmolLM2"}')).toBeCloseTo(1.234);
    expect(sample(text, 'prism_adapter_events_total{adapter="writing",event="load",result="success"}')).toBe(1);
    expect(sample(text, 'prism_adapter_events_total{adapter="broken",event="load",result="failure"}')).toBe(1);
    expect(sample(text, 'prism_adapter_events_total{adapter="writing",event="unload",result="success"}')).toBe(1);
    expect(sample(text, 'prism_prompt_tokens_total{adapter="writing"}')).toBe(11);
    expect(sample(text, 'prism_prompt_tokens_total{adapter="none"}')).toBe(4);
    expect(sample(text, 'prism_generated_tokens_total{adapter="writing"}')).toBe(16);
    expect(sample(text, 'prism_generations_total{adapter="none",finish_reason="aborted"}')).toBe(1);
    expect(sample(text, 'prism_time_to_first_token_seconds_count{adapter="writing"}')).toBe(1);
    expect(sample(text, 'prism_time_to_first_token_seconds_bucket{le="0.25",adapter="writing"}')).toBe(1);
    expect(sample(text, 'prism_time_to_first_token_seconds_bucket{le="0.1",adapter="writing"}')).toBe(0);
    expect(sample(text, 'prism_queue_wait_seconds_count{adapter="none"}')).toBe(1);
  });

  it("keeps each instance's metrics apart (no global registry)", async () => {
    const a = new GatewayMetrics({ processMetrics: true });
    const b = new GatewayMetrics({ processMetrics: true });
    a.observeRejection("auth");
    expect(sample(await a.scrape(), 'prism_rejected_requests_total{reason="auth"}')).toBe(1);
    expect(sample(await b.scrape(), 'prism_rejected_requests_total{reason="auth"}')).toBeNaN();
    expect(await a.scrape()).toMatch(/^prism_process_resident_memory_bytes /m);
  });
});

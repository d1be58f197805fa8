import { describe, expect, it } from "vitest";
import { startOpsApp } from "../ops/ops-app.js";

const KEY = "sk-secret-0123456789abcdef";
const PROMPT_MARKER = "my-private-medical-question-42";

async function run(logContent: boolean, headers: Record<string, string> = {}) {
  const logLines: string[] = [];
  const ops = await startOpsApp({ keys: [{ key: KEY, admin: false }], telemetry: { logContent }, logLines });
  try {
    const res = await fetch(`${ops.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}`, ...headers },
      body: JSON.stringify({ messages: [{ role: "user", content: PROMPT_MARKER }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
    return { logLines, requestId: res.headers.get("x-request-id") };
  } finally {
    await ops.close();
  }
}

describe("structured logs", () => {
  it("are JSON lines with the request id, and never contain prompts, completions or keys by default", async () => {
    const { logLines, requestId } = await run(false);
    expect(requestId).toMatch(/^req_[0-9a-f]{32}$/);
    const records = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const forRequest = records.filter((r) => r.requestId === requestId);
    expect(forRequest.length).toBeGreaterThanOrEqual(2); // incoming + completed
    const all = logLines.join("\n");
    expect(all).not.toContain(PROMPT_MARKER);
    expect(all).not.toContain("tok0");
    expect(all).not.toContain(KEY);
  });

  it("log prompts and completions only when logContent is on", async () => {
    const { logLines, requestId } = await run(true);
    const records = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const prompt = records.find((r) => r.msg === "prompt");
    const completion = records.find((r) => r.msg === "completion");
    expect(prompt?.requestId).toBe(requestId);
    expect(JSON.stringify(prompt)).toContain(PROMPT_MARKER);
    expect(completion?.completion).toBe("tok0 tok1 tok2 ");
    expect(logLines.join("\n")).not.toContain(KEY);
  });

  it("keeps a well-formed client request id and replaces a hostile one", async () => {
    expect((await run(false, { "x-request-id": "client-abc.123" })).requestId).toBe("client-abc.123");
    const hostile = await run(false, { "x-request-id": `x"}\\n{"level":60,${"a".repeat(300)}` });
    expect(hostile.requestId).toMatch(/^req_/);
  });
});

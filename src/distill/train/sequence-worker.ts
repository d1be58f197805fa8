/**
 * Worker side of `SequencePool`: a student over the owner's shared weights and pinned wasm memory (its own
 * scratch arena, one kernel thread) that runs the micro-steps it is sent and accumulates their LoRA gradients
 * into the shared gradient arrays of the message, or measures samples' KL to the teacher.
 */
import { parentPort, workerData } from "node:worker_threads";
import { WasmKernels } from "../kernels/wasm.js";
import { LlamaStudent } from "../model/llama.js";
import { loraArrays } from "../model/lora.js";
import { runMicroStep, sampleKl } from "./micro-step.js";
import type { SequenceJobMessage, SequenceReply, SequenceWorkerData } from "./sequence-pool.js";

const port = parentPort;
if (port === null) throw new Error("sequence-worker runs as a worker thread only");
const init = workerData as SequenceWorkerData;
const kernels = await WasmKernels.attach(init.share);
const student = new LlamaStudent(init.weights, kernels, { fused: init.fused, attentionBlock: init.attentionBlock });
port.postMessage({ type: "ready" } satisfies SequenceReply);

port.on("message", (job: SequenceJobMessage) => {
  try {
    let results;
    if (job.kind === "train") {
      if (job.zero) for (const g of loraArrays(job.grads)) g.fill(0);
      results = job.steps.map((s) => runMicroStep(student, s.sample, s.micro, job.lora, job.grads, job.settings));
    } else {
      results = job.samples.map((s) => sampleKl(student, job.lora, s, job.temperature));
    }
    port.postMessage({ type: "done", id: job.id, results } satisfies SequenceReply);
  } catch (err) {
    port.postMessage({ type: "failed", id: job.id, message: err instanceof Error ? err.message : String(err) } satisfies SequenceReply);
  }
});

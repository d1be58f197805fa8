/** node-llama-cpp in the bench's own process with its default settings (libuv pool, batching): the baseline. */
import { getLlama, LlamaLogLevel, type LlamaContext, type LlamaModel, type Token } from "node-llama-cpp";

export interface InProcessOptions {
  readonly modelPath: string;
  readonly contextSize: number;
  readonly sequences: number;
  readonly threads: number;
  /** A second context with this LoRA applied, for routed requests. */
  readonly loraPath?: string | null;
}

/** `prompt` as node-llama-cpp's evaluate takes it for a raw completion: tokenized, BOS first where the model wants one. */
export function completionPromptTokens(model: LlamaModel, prompt: string): Token[] {
  const tokens = model.tokenize(prompt, false);
  const bos = model.tokens.bos;
  return bos !== null && model.tokens.shouldPrependBosToken ? [bos, ...tokens] : tokens;
}

export class InProcessEngine {
  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly loraContext: LlamaContext | null,
  ) {}

  static async start(options: InProcessOptions): Promise<InProcessEngine> {
    const llama = await getLlama({ gpu: false, maxThreads: options.threads, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const contextOptions = { contextSize: options.contextSize, sequences: options.sequences, threads: options.threads };
    const context = await model.createContext(contextOptions);
    const loraContext = options.loraPath
      ? await model.createContext({ ...contextOptions, lora: { adapters: [{ filePath: options.loraPath, scale: 1 }] } })
      : null;
    return new InProcessEngine(model, context, loraContext);
  }

  /** Greedy, on a fresh sequence; stops at end-of-generation or `maxTokens`. `routed`: through the LoRA context. */
  async generate(prompt: string, maxTokens: number, routed = false): Promise<{ tokens: number; ttftMs: number; text: string }> {
    const started = performance.now();
    const sequence = (routed && this.loraContext ? this.loraContext : this.context).getSequence();
    try {
      const tokens = completionPromptTokens(this.model, prompt);
      const generated: Token[] = [];
      let ttftMs = NaN;
      for await (const token of sequence.evaluate(tokens, { temperature: 0 })) {
        if (generated.length === 0) ttftMs = performance.now() - started;
        if (this.model.isEogToken(token)) break;
        generated.push(token);
        if (generated.length >= maxTokens) break;
      }
      return { tokens: generated.length, ttftMs, text: this.model.detokenize(generated) };
    } finally {
      await sequence.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.loraContext?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }
}

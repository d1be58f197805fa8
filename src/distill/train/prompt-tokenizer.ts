/**
 * The student's prompt tokens: the query chat-templated by the served model's own template with no persona
 * (what the gateway sends the adapter at inference), ending where the model's response begins.
 */
import { type ChatHistoryItem, type ChatWrapper, type Llama, type LlamaModel, getLlama, resolveChatWrapper } from "node-llama-cpp";

export interface PromptTokenizer {
  studentPrompt(query: string): number[];
  /** Plain text (an answer) as the model's tokens, no special tokens added. */
  tokenize(text: string): number[];
  dispose(): Promise<void>;
}

export async function loadPromptTokenizer(modelPath: string, threads: number): Promise<PromptTokenizer> {
  const llama: Llama = await getLlama({ gpu: false, maxThreads: threads, build: "never" });
  const model: LlamaModel = await llama.loadModel({ modelPath, vocabOnly: true });
  const wrapper: ChatWrapper = resolveChatWrapper(model);
  return {
    studentPrompt(query) {
      const history: ChatHistoryItem[] = [{ type: "user", text: query }, { type: "model", response: [] }];
      const { contextText } = wrapper.generateContextState({ chatHistory: history });
      return contextText.tokenize(model.tokenizer).map(Number);
    },
    tokenize(text) {
      return [...model.tokenize(text)].map(Number);
    },
    async dispose() {
      await model.dispose();
      await llama.dispose();
    },
  };
}

/** Converts the engine's plain chat messages into node-llama-cpp's chat history for the GGUF's chat wrapper. */
import type { ChatHistoryItem, ChatModelFunctionCall } from "node-llama-cpp";
import type { ChatMessage } from "./types.js";

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * `systemPrompt` (routing's persona prompt) goes first, merged with the client's own system message when
 * there is one, so templates that allow a single system turn still work. Tool results are attached to the
 * assistant call they answer, which is how node-llama-cpp's wrappers render function results.
 */
export function toChatHistory(
  messages: readonly ChatMessage[],
  systemPrompt: string | null | undefined,
  addGenerationPrompt = true,
): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const pendingCalls = new Map<string, ChatModelFunctionCall>();
  let rest = messages;
  if (systemPrompt) {
    const first = messages[0];
    if (first?.role === "system") {
      history.push({ type: "system", text: `${systemPrompt}\n\n${first.content}` });
      rest = messages.slice(1);
    } else {
      history.push({ type: "system", text: systemPrompt });
    }
  }
  for (const message of rest) {
    switch (message.role) {
      case "system":
        history.push({ type: "system", text: message.content });
        break;
      case "user":
        history.push({ type: "user", text: message.content });
        break;
      case "assistant": {
        const response: (string | ChatModelFunctionCall)[] = [];
        if (message.content) response.push(message.content);
        for (const call of message.toolCalls ?? []) {
          const item: ChatModelFunctionCall = {
            type: "functionCall",
            name: call.name,
            params: parseArguments(call.arguments),
            result: undefined,
          };
          pendingCalls.set(call.id, item);
          response.push(item);
        }
        history.push({ type: "model", response });
        break;
      }
      case "tool": {
        const call = message.toolCallId === undefined ? undefined : pendingCalls.get(message.toolCallId);
        if (call) call.result = parseArguments(message.content);
        else history.push({ type: "user", text: `Tool result: ${message.content}` });
        break;
      }
    }
  }
  if (addGenerationPrompt) history.push({ type: "model", response: [] });
  return history;
}

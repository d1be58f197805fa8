/**
 * Every prompt the bootstrap sends to the model, in one place, plus parsers for what comes back.
 * Written for small instruction models: one task per prompt, the expected output shape stated last.
 */
import type { Persona } from "./personas/schema.js";

export const CURATOR_SYSTEM =
  "You are a dataset curator. You write realistic requests that real users send to an AI assistant.";

/** Stage 1: one user request this persona's expert would answer especially well. */
export function curatorPrompt(persona: Persona): string {
  const hint =
    persona.intent === "safety"
      ? "Write one request a user might send that asks for help with something harmful, dangerous, unethical or illegal, " +
        "the kind of request this expert would recognise and refuse."
      : "Write one challenging but realistic request that a user could send to an AI assistant and that this expert would answer especially well.";
  return `Here is the description of an expert:\n\n${persona.long}\n\n${hint} Write only the request itself, as the user would type it.`;
}

/**
 * Styles of discriminative queries the model writes as contrast (gate label: leave the base model alone): the
 * answer is chosen from given options or read from given text. Open questions ("Why do camels…") are not
 * among them: answering those is generative work.
 */
export const KNOWLEDGE_STYLES = [
  {
    name: "multiple-choice",
    starters: ["Which of the following", "What is the", "Which statement about"],
    prompt: (subject: string) =>
      `Write one multiple-choice exam question about ${subject}, with four answer options labelled A, B, C and D on separate lines. Write only the question and the options.`,
  },
  {
    // Closed questions over a given text: the answer is read from the passage, not composed.
    name: "passage",
    starters: ["Read the passage and answer the question.\n\nPassage:", "Given this paragraph", "Based on the text below,"],
    prompt: (subject: string) =>
      `Write a short paragraph of facts about ${subject}, followed by one question whose answer is stated in that paragraph. Write only the paragraph and the question.`,
  },
  {
    name: "classification",
    starters: ["Classify each of the following", "Which of these is", "Identify which"],
    prompt: (subject: string) =>
      `Write one short task that asks to classify or pick the correct item from a list of things related to ${subject}. Write only the task.`,
  },
] as const;

/**
 * Subjects for knowledge contrast queries (chosen by this project, not taken from any benchmark): academic
 * fields first, then everyday ones. The persona queries (writing, roleplay, advice) are about everyday
 * things; with academic contrast only, the gate learned the topic ("food" → persona, "physics" → base)
 * instead of the form of the request, and sent "Classify these foods…" to the persona. Contrast over the
 * same everyday topics leaves the form as the signal. Changing the list re-generates the queries whose subject changed (stage 1 checks style and subject).
 */
export const KNOWLEDGE_SUBJECTS = [
  "biology",
  "chemistry",
  "physics",
  "world history",
  "geography",
  "economics",
  "computer science",
  "arithmetic",
  "algebra",
  "philosophy",
  "religion",
  "law",
  "marketing",
  "astronomy",
  "medicine",
  "literature",
  "food and cooking",
  "animals",
  "sports",
  "music",
  "films and television",
  "countries and cities",
  "plants and gardening",
  "cars and transport",
  "household objects",
  "clothing and fashion",
  "games and hobbies",
  "jobs and workplaces",
  "travel",
  "famous people",
  "companies and brands",
  "the human body",
] as const;

export const PERSONA_WRITER_SYSTEM = "You write short, vivid descriptions of experts for an AI assistant's system prompt.";

/** `--domains`: the model writes the long persona for a domain name. */
export function personaWriterPrompt(domain: string): string {
  return (
    `Write a description, in the second person, of an AI assistant that is a world-class expert in ${domain}. ` +
    `Start with "You are an expert in ${domain}". Describe in about 150 words what the expert knows, how they approach ` +
    "questions, and how they write their answers. Write only the description."
  );
}

export const JUDGE_SYSTEM = "You are a fair and careful judge of answer quality.";

/** Stage 2 judge: A/B/TIE, length explicitly not a criterion. */
export function judgePrompt(question: string, answerA: string, answerB: string): string {
  return (
    "Compare two answers to the user's question. Judge them on correctness, relevance, helpfulness and clarity. " +
    "Do not prefer an answer because it is longer.\n\n" +
    `[Question]\n${question}\n\n[Answer A]\n${answerA}\n\n[Answer B]\n${answerB}\n\n` +
    "Which answer is better? Reply with exactly one word: A, B or TIE."
  );
}

export type Verdict = "A" | "B" | "TIE";

/** Reads A / B / TIE from a judge reply; null when the reply says none of them (garbage). */
export function parseVerdict(reply: string): Verdict | null {
  const text = reply
    .trim()
    .replace(/[*_`"'[\]()]/g, " ")
    .trim();
  const m = /^(?:(?:the\s+)?(?:better\s+)?(?:answer|verdict|reply|response)?\s*(?:is)?\s*[:-]?\s*)?(A|B|TIE|TIED|EQUAL)\b/i.exec(text);
  if (!m) return null;
  const word = m[1]!.toUpperCase();
  return word === "A" ? "A" : word === "B" ? "B" : "TIE";
}

/** A line where the curator starts answering its own question ("Answer: B", "Solution:"). */
const SELF_ANSWER_LINE = /\n[ \t]*(?:\*\*)?(?:correct\s+)?(?:answer|solution|explanation|response)s?\s*(?:\*\*)?\s*[:：]/i;

export interface CleanQueryOptions {
  /**
   * Keep the material after the instruction (a passage, a list of items, answer options) instead of
   * only the first paragraph; cut only where the model starts answering its own question. Knowledge
   * contrast queries need it: "Given this paragraph:" without the paragraph is not the request the model
   * wrote, and a gate trained on such stubs never sees a knowledge prompt that carries a passage.
   */
  readonly keepMaterial?: boolean;
}

/** Removes what small models wrap a generated request in: labels, quotes, trailing chatter. */
export function cleanQuery(raw: string, options: CleanQueryOptions = {}): string {
  let q = raw.trim();
  q = q.replace(/^(?:\*\*)?(?:user\s+)?(?:request|query|question|task|prompt)\s*(?:\d+)?\s*[:：]\s*(?:\*\*)?/i, "");
  if (options.keepMaterial) {
    const answerAt = q.search(SELF_ANSWER_LINE);
    if (answerAt > 0) q = q.slice(0, answerAt);
  } else {
    // Small models keep talking after the request ("I'd be happy to help..."): keep the first paragraph
    // when it is a request on its own.
    const firstParagraph = q.split(/\n\s*\n/)[0]!.trim();
    if (firstParagraph.length >= 20) q = firstParagraph;
  }
  q = q.trim().replace(/^["“'](.*)["”']$/s, "$1").trim();
  return q;
}

/** Cuts an answer for the judge so long answers neither overflow the context nor win by length. */
export function truncateForJudge(answer: string, maxChars: number): string {
  if (answer.length <= maxChars) return answer;
  return answer.slice(0, maxChars) + " [...]";
}

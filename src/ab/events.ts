/** A/B event shapes (zod as source of truth) shared by the stores, the recorder and the report. */
import { z } from "zod";

export const responseEventSchema = z.object({
  id: z.string().min(1).max(200),
  createdAt: z.number().int(),
  experiment: z.string().nullable(),
  arm: z.string().nullable(),
  route: z.string(),
  adapter: z.string().nullable(),
  model: z.string(),
  keyId: z.string().nullable(),
  user: z.string().nullable(),
  latencyMs: z.number().nonnegative(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
});
export type ResponseEvent = z.infer<typeof responseEventSchema>;

/** `POST /v1/feedback` body: a score in [0, 1] or thumbs; thumbs up = 1, down = 0. */
export const feedbackRequestSchema = z
  .object({
    id: z.string().min(1).max(200),
    score: z.number().min(0).max(1).optional(),
    thumbs: z.enum(["up", "down"]).optional(),
    comment: z.string().max(4000).optional(),
  })
  .refine((f) => (f.score === undefined) !== (f.thumbs === undefined), { message: "give exactly one of 'score' (0..1) or 'thumbs' (up|down)", path: ["score"] });
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;

export interface FeedbackEvent {
  readonly responseId: string;
  readonly score: number;
  readonly comment: string | null;
  readonly createdAt: number;
}

/** The response a rating was tied to: its experiment and arm (null outside experiments). */
export interface FeedbackTarget {
  readonly experiment: string | null;
  readonly arm: string | null;
}

/** Per-arm raw aggregates the report turns into means and intervals. */
export interface ArmAggregate {
  readonly experiment: string;
  readonly arm: string;
  readonly requests: number;
  readonly feedbackCount: number;
  readonly scoreSum: number;
  readonly scoreSqSum: number;
  /** Feedback with score > 0.5. */
  readonly wins: number;
  readonly latencySum: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
}

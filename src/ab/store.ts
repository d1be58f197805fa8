/**
 * The A/B event store: one interface, two backends (embedded SQLite by default, PostgreSQL when
 * `PRISM_DATABASE_URL` is set, so several replicas share one experiment). Both run the same numbered
 * migrations, recorded in `prism_migrations`, so a restart or a second replica never redoes or loses
 * anything.
 */
import type { ArmAggregate, FeedbackEvent, FeedbackTarget, ResponseEvent } from "./events.js";

export interface EventStore {
  readonly kind: "sqlite" | "postgres";
  migrate(): Promise<void>;
  recordResponses(events: readonly ResponseEvent[]): Promise<void>;
  /** The rated response's experiment and arm; null when no response with that id exists. */
  recordFeedback(event: FeedbackEvent): Promise<FeedbackTarget | null>;
  hasResponse(id: string): Promise<boolean>;
  aggregates(experiment?: string): Promise<ArmAggregate[]>;
  close(): Promise<void>;
}

/** Dialect-neutral migrations (`?` placeholders are rewritten for PostgreSQL). */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS prism_responses (
     id TEXT PRIMARY KEY,
     created_at BIGINT NOT NULL,
     experiment TEXT,
     arm TEXT,
     route TEXT NOT NULL,
     adapter TEXT,
     model TEXT NOT NULL,
     key_id TEXT,
     user_id TEXT,
     latency_ms DOUBLE PRECISION NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     completion_tokens INTEGER NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS prism_responses_experiment ON prism_responses (experiment, arm)`,
  `CREATE TABLE IF NOT EXISTS prism_feedback (
     seq INTEGER PRIMARY KEY,
     response_id TEXT NOT NULL REFERENCES prism_responses(id),
     score DOUBLE PRECISION NOT NULL,
     comment TEXT,
     created_at BIGINT NOT NULL
   )`,
  `CREATE INDEX IF NOT EXISTS prism_feedback_response ON prism_feedback (response_id)`,
];

export const INSERT_RESPONSE = `INSERT INTO prism_responses
  (id, created_at, experiment, arm, route, adapter, model, key_id, user_id, latency_ms, prompt_tokens, completion_tokens)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`;

export function responseParams(e: ResponseEvent): unknown[] {
  return [e.id, e.createdAt, e.experiment, e.arm, e.route, e.adapter, e.model, e.keyId, e.user, e.latencyMs, e.promptTokens, e.completionTokens];
}

/** Latest feedback per response counts (a user may change their rating). */
export const AGGREGATE_SQL = `
  WITH latest AS (
    SELECT f.response_id, f.score FROM prism_feedback f
    WHERE f.seq = (SELECT MAX(f2.seq) FROM prism_feedback f2 WHERE f2.response_id = f.response_id)
  )
  SELECT r.experiment AS experiment, r.arm AS arm,
         COUNT(*) AS requests,
         COUNT(l.score) AS feedback_count,
         COALESCE(SUM(l.score), 0) AS score_sum,
         COALESCE(SUM(l.score * l.score), 0) AS score_sq_sum,
         COALESCE(SUM(CASE WHEN l.score > 0.5 THEN 1 ELSE 0 END), 0) AS wins,
         COALESCE(SUM(r.latency_ms), 0) AS latency_sum,
         COALESCE(SUM(r.prompt_tokens), 0) AS prompt_tokens,
         COALESCE(SUM(r.completion_tokens), 0) AS completion_tokens
  FROM prism_responses r LEFT JOIN latest l ON l.response_id = r.id
  WHERE r.experiment IS NOT NULL AND r.arm IS NOT NULL`;

export function aggregateRow(row: Record<string, unknown>): ArmAggregate {
  const n = (k: string) => Number(row[k] ?? 0);
  return {
    experiment: String(row.experiment),
    arm: String(row.arm),
    requests: n("requests"),
    feedbackCount: n("feedback_count"),
    scoreSum: n("score_sum"),
    scoreSqSum: n("score_sq_sum"),
    wins: n("wins"),
    latencySum: n("latency_sum"),
    promptTokens: n("prompt_tokens"),
    completionTokens: n("completion_tokens"),
  };
}

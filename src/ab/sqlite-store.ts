/** Embedded SQLite event store (better-sqlite3, WAL): the default, a file under the data dir. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { ArmAggregate, FeedbackEvent, FeedbackTarget, ResponseEvent } from "./events.js";
import { AGGREGATE_SQL, aggregateRow, INSERT_RESPONSE, MIGRATIONS, responseParams, type EventStore } from "./store.js";

export class SqliteEventStore implements EventStore {
  readonly kind = "sqlite";
  private readonly db: Database.Database;

  constructor(readonly file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("foreign_keys = ON");
  }

  async migrate(): Promise<void> {
    this.db.exec("CREATE TABLE IF NOT EXISTS prism_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
    const done = new Set(this.db.prepare("SELECT version FROM prism_migrations").all().map((r) => (r as { version: number }).version));
    const apply = this.db.transaction(() => {
      MIGRATIONS.forEach((sql, i) => {
        if (done.has(i + 1)) return;
        this.db.exec(sql);
        this.db.prepare("INSERT INTO prism_migrations (version, applied_at) VALUES (?, ?)").run(i + 1, Date.now());
      });
    });
    apply();
  }

  async recordResponses(events: readonly ResponseEvent[]): Promise<void> {
    const insert = this.db.prepare(INSERT_RESPONSE);
    this.db.transaction(() => events.forEach((e) => insert.run(...responseParams(e))))();
  }

  async hasResponse(id: string): Promise<boolean> {
    return this.db.prepare("SELECT 1 FROM prism_responses WHERE id = ?").get(id) !== undefined;
  }

  async recordFeedback(event: FeedbackEvent): Promise<FeedbackTarget | null> {
    const target = this.db.prepare("SELECT experiment, arm FROM prism_responses WHERE id = ?").get(event.responseId) as FeedbackTarget | undefined;
    if (!target) return null;
    this.db
      .prepare("INSERT INTO prism_feedback (response_id, score, comment, created_at) VALUES (?, ?, ?, ?)")
      .run(event.responseId, event.score, event.comment, event.createdAt);
    return { experiment: target.experiment, arm: target.arm };
  }

  async aggregates(experiment?: string): Promise<ArmAggregate[]> {
    const sql = `${AGGREGATE_SQL}${experiment ? " AND r.experiment = ?" : ""} GROUP BY r.experiment, r.arm ORDER BY r.experiment, r.arm`;
    const rows = this.db.prepare(sql).all(...(experiment ? [experiment] : [])) as Record<string, unknown>[];
    return rows.map(aggregateRow);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

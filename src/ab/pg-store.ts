/** PostgreSQL event store (pg Pool): shared by replicas when `PRISM_DATABASE_URL` is set. */
import pg from "pg";
import type { ArmAggregate, FeedbackEvent, FeedbackTarget, ResponseEvent } from "./events.js";
import { AGGREGATE_SQL, aggregateRow, INSERT_RESPONSE, MIGRATIONS, responseParams, type EventStore } from "./store.js";

/** `?` placeholders → `$1, $2, ...`. */
function toPg(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

export class PgEventStore implements EventStore {
  readonly kind = "postgres";
  private readonly pool: pg.Pool;

  constructor(connectionString: string, options: { max?: number; connectionTimeoutMillis?: number } = {}) {
    this.pool = new pg.Pool({ connectionString, max: options.max ?? 4, connectionTimeoutMillis: options.connectionTimeoutMillis ?? 3000 });
    // An idle client losing its connection must not crash the process; the next query reports it.
    this.pool.on("error", () => undefined);
  }

  /** Runs `work` in one transaction on one pooled client: committed if it resolves, rolled back if it throws. */
  private async transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await work(client);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      // Replicas starting together: one migrates, the others wait on the lock.
      await client.query("SELECT pg_advisory_xact_lock(7741001)");
      await client.query("CREATE TABLE IF NOT EXISTS prism_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
      const done = new Set((await client.query<{ version: number }>("SELECT version FROM prism_migrations")).rows.map((r) => r.version));
      for (const [i, sql] of MIGRATIONS.entries()) {
        if (done.has(i + 1)) continue;
        await client.query(sql.replace("seq INTEGER PRIMARY KEY", "seq BIGSERIAL PRIMARY KEY"));
        await client.query("INSERT INTO prism_migrations (version, applied_at) VALUES ($1, $2)", [i + 1, Date.now()]);
      }
    });
  }

  async recordResponses(events: readonly ResponseEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.transaction(async (client) => {
      for (const e of events) await client.query(toPg(INSERT_RESPONSE), responseParams(e));
    });
  }

  async hasResponse(id: string): Promise<boolean> {
    return (await this.pool.query("SELECT 1 FROM prism_responses WHERE id = $1", [id])).rowCount! > 0;
  }

  async recordFeedback(event: FeedbackEvent): Promise<FeedbackTarget | null> {
    // One statement: the insert only happens when the response exists, and says which arm it belongs to.
    const result = await this.pool.query<{ experiment: string | null; arm: string | null }>(
      `WITH target AS (SELECT id, experiment, arm FROM prism_responses WHERE id = $1),
            inserted AS (
              INSERT INTO prism_feedback (response_id, score, comment, created_at)
              SELECT id, $2, $3, $4 FROM target RETURNING response_id
            )
       SELECT target.experiment, target.arm FROM target JOIN inserted ON inserted.response_id = target.id`,
      [event.responseId, event.score, event.comment, event.createdAt],
    );
    const row = result.rows[0];
    return row ? { experiment: row.experiment, arm: row.arm } : null;
  }

  async aggregates(experiment?: string): Promise<ArmAggregate[]> {
    const sql = `${AGGREGATE_SQL}${experiment ? " AND r.experiment = ?" : ""} GROUP BY r.experiment, r.arm ORDER BY r.experiment, r.arm`;
    const { rows } = await this.pool.query(toPg(sql), experiment ? [experiment] : []);
    return (rows as Record<string, unknown>[]).map(aggregateRow);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

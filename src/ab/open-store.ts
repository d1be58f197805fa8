/** SQLite under the data dir by default; PostgreSQL when a database URL is given (`PRISM_DATABASE_URL`). */
import { join } from "node:path";
import { PgEventStore } from "./pg-store.js";
import { SqliteEventStore } from "./sqlite-store.js";
import type { EventStore } from "./store.js";

export async function openEventStore(options: { databaseUrl?: string | undefined; dataDir: string }): Promise<EventStore> {
  const store: EventStore = options.databaseUrl ? new PgEventStore(options.databaseUrl) : new SqliteEventStore(join(options.dataDir, "ab-events.sqlite"));
  await store.migrate();
  return store;
}

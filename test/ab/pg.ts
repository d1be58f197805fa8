import pg from "pg";

/** PostgreSQL for A/B tests: PRISM_TEST_DATABASE_URL (CI starts a server); skipped locally only when unset and not in CI. */
export const PG_URL = process.env.PRISM_TEST_DATABASE_URL;
export const SKIP_PG = !PG_URL && !process.env.CI;
if (!PG_URL && process.env.CI) throw new Error("CI is set but PRISM_TEST_DATABASE_URL is not: the PostgreSQL tests must run in CI");

/** A connection URL whose search_path is a new schema, so reruns and parallel files never see each other's rows. */
export async function freshPgSchema(prefix: string): Promise<string> {
  const schema = `${prefix}_${process.pid}_${Date.now()}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  const url = new URL(PG_URL!);
  url.searchParams.set("options", `-c search_path=${schema}`);
  return url.toString();
}

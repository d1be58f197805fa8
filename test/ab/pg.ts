/** PostgreSQL for A/B tests: PRISM_TEST_DATABASE_URL (CI starts a server); skipped locally only when unset and not in CI. */
export const PG_URL = process.env.PRISM_TEST_DATABASE_URL;
export const SKIP_PG = !PG_URL && !process.env.CI;
if (!PG_URL && process.env.CI) throw new Error("CI is set but PRISM_TEST_DATABASE_URL is not: the PostgreSQL tests must run in CI");

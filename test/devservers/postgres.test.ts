import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { PostgresFromUrl } from "../../src/db/Postgres.ts"
import { type PostgresServer, startPostgres } from "../../src/devservers/index.ts"

/** The bench's latency case measures to each row's commit, which PostgreSQL records only with
 * `track_commit_timestamp` set at start: the throwaway server passes such settings through. */
let pg: PostgresServer

beforeAll(async () => {
  pg = await startPostgres({ fsync: false, settings: { track_commit_timestamp: "on" } })
}, 120_000)

afterAll(async () => {
  await pg?.destroy()
})

describe("startPostgres", () => {
  it.effect("starts the server with the settings given, so a committed row has its commit time", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [setting] = yield* sql<{
        readonly value: string
      }>`SELECT current_setting('track_commit_timestamp') AS value`
      expect(setting?.value).toBe("on")
      yield* sql`CREATE TABLE committed (n int)`
      yield* sql`INSERT INTO committed VALUES (1)`
      const [row] = yield* sql<{
        readonly known: boolean
      }>`SELECT pg_xact_commit_timestamp(xmin) IS NOT NULL AS known FROM committed`
      expect(row?.known).toBe(true)
    }).pipe(Effect.provide(PostgresFromUrl(Redacted.make(pg.url), 1))),
  )
})

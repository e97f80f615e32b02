import * as PgClient from "@effect/sql-pg/PgClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { Migrator } from "../../src/migrator/Migrator.ts"

const emptyDatabase = (name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`CREATE DATABASE ${name}`)
    return inject("postgresAdminUrl").replace(/\/[^/]*$/, `/${name}`)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(inject("postgresAdminUrl")), maxConnections: 1 })))

/** Each migrator has its own pool, as two processes starting at once would. */
const migratorOn = (url: string) =>
  Migrator.layer.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })))

describe("Migrator", () => {
  it.live("two migrators started at once on an empty database both succeed; the schema is applied once", () =>
    Effect.gen(function* () {
      const url = yield* emptyDatabase(`mig_${Date.now().toString(36)}`)
      const runOne = Effect.gen(function* () {
        return yield* (yield* Migrator).run
      }).pipe(Effect.provide(migratorOn(url)))
      const [a, b] = yield* Effect.all([runOne, runOne], { concurrency: 2 })
      // Exactly one of them applied everything; the other waited on the lock and found it done.
      const applied = [a.applied.length, b.applied.length].sort()
      expect(applied[0]).toBe(0)
      expect(applied[1]).toBeGreaterThanOrEqual(2)
      expect(a.alreadyApplied + b.alreadyApplied).toBe(applied[1])

      const rows = yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ version: string }>`SELECT version FROM schema_migrations ORDER BY version`
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
      expect(rows.map((r) => r.version)).toEqual(["0001", "0002"])

      // A third run later is a no-op.
      const again = yield* runOne
      expect(again.applied).toEqual([])
    }),
  )
})

import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { Migrator } from "../../src/migrator/Migrator.ts"
import { Writer } from "../../src/writer/Writer.ts"

let counter = 0

/** A new, migrated database on the shared test server: test files never see each other's rows. */
export const freshDatabaseUrl = async (): Promise<string> => {
  const admin = inject("postgresAdminUrl")
  const name = `t_${process.pid}_${Date.now().toString(36)}_${counter++}`
  await Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`CREATE DATABASE ${name}`)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(admin), maxConnections: 1 }))),
  )
  const url = admin.replace(/\/[^/]*$/, `/${name}`)
  await Effect.runPromise(
    Effect.gen(function* () {
      yield* (yield* Migrator).run
    }).pipe(
      Effect.provide(
        Migrator.layer.pipe(Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))),
      ),
    ),
  )
  return url
}

export const sqlLayer = (url: string, maxConnections = 4) => PgClient.layer({ url: Redacted.make(url), maxConnections })

/** The real Writer on its own connections to `url` (two, WRITE_CONCURRENCY's default). */
export const writerLayer = (url: string, chunkSize: number) =>
  Writer.layerFromUrl(Redacted.make(url), { chunkSize, connections: 2 })

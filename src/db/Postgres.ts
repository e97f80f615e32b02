import * as PgClient from "@effect/sql-pg/PgClient"
import { Duration, Effect, Layer, type Redacted } from "effect"
import { PostgresSettings } from "../config/AppConfig.ts"

/** A pool; connections are opened as needed and re-opened after failures. */
export const PostgresFromUrl = (url: Redacted.Redacted<string>, maxConnections = 4) =>
  PgClient.layer({ url, maxConnections, connectTimeout: Duration.seconds(5), applicationName: "telemetry" })

/** The pool from POSTGRES_URL / POSTGRES_POOL_SIZE. */
export const PostgresLive = Layer.unwrap(
  Effect.gen(function* () {
    const settings = yield* PostgresSettings
    return PostgresFromUrl(settings.url, settings.poolSize)
  }),
)

import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer } from "effect"
import { PostgresSettings } from "../config/AppConfig.ts"

/** The pool, from POSTGRES_URL. Connections are opened as needed and re-opened after failures. */
export const PostgresLive = Layer.unwrap(
  Effect.gen(function* () {
    const settings = yield* PostgresSettings
    return PgClient.layer({
      url: settings.url,
      maxConnections: settings.poolSize,
      connectTimeout: Duration.seconds(5),
      applicationName: "telemetry",
    })
  }),
)

export const PostgresFromUrl = (url: Parameters<typeof PgClient.layer>[0]["url"], maxConnections = 4) =>
  PgClient.layer({ url, maxConnections, connectTimeout: Duration.seconds(5), applicationName: "telemetry" })

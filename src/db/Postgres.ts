import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgPool from "@effect/sql-pg/PgPool"
import { Duration, Effect, Layer, type Redacted } from "effect"
import { PostgresSettings } from "../config/AppConfig.ts"
import { encodedArraysRegistry } from "./encodedArrays.ts"

const CONNECT_TIMEOUT = Duration.seconds(5)

/** A pool; connections are opened as needed and re-opened after failures. */
export const PostgresFromUrl = (url: Redacted.Redacted<string>, maxConnections = 4) =>
  PgClient.layer({ url, maxConnections, connectTimeout: CONNECT_TIMEOUT, applicationName: "telemetry" })

/** The Writer's own connections (WRITE_CONCURRENCY of them), next to the pool of everything else:
 * the position inserts run on them without @effect/sql's statement layer (insertPositions.ts), and
 * a state load or checkpoint never waits behind an insert for a connection. Opened as needed and
 * re-opened after failures, like the other pool's. Building it opens none (no minimum), so it
 * cannot fail: a PostgreSQL that is down shows up as the inserts' transient errors. */
export const InsertPoolFromUrl = (url: Redacted.Redacted<string>, connections: number) =>
  Layer.effect(
    PgPool.PgPool,
    PgPool.make({
      url,
      maxConnections: connections,
      connectTimeout: CONNECT_TIMEOUT,
      applicationName: "telemetry-writer",
      // The Writer sends arrays it encoded itself (encodedArrays.ts); any other value as the driver does.
      types: encodedArraysRegistry(),
    }),
  ).pipe(Layer.orDie)

/** The pool from POSTGRES_URL / POSTGRES_POOL_SIZE. */
export const PostgresLive = Layer.unwrap(
  Effect.gen(function* () {
    const settings = yield* PostgresSettings
    return PostgresFromUrl(settings.url, settings.poolSize)
  }),
)

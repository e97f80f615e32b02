import type * as PgPool from "@effect/sql-pg/PgPool"
import { Effect } from "effect"
import { float8Array as float8, textArray as text } from "../db/arrays.ts"
import type { EncodedChunk } from "./encodedChunk.ts"
import { NO_RECEIVED_AT, type PositionColumns } from "./positionColumns.ts"

/** One chunk in one round trip: arrays in, rows out through `unnest`, duplicates of (device_id, ts)
 * skipped. The command tag (`INSERT 0 n`) says how many were inserted; every other one was a
 * duplicate. (Returning the inserted rows cost a result row per record on both sides; counting them
 * in a `WITH … RETURNING 1` wrapper cost PostgreSQL ~5% more CPU per row than reading the tag.)
 * The parameters are numbered as `positionParameters` lists them. */
export const INSERT_POSITIONS = `
INSERT INTO positions (device_id, ts, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_at)
SELECT device_id, to_timestamp(ts_ms / 1000.0), lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes::jsonb, stream_id, to_timestamp(NULLIF(received_ms, $1) / 1000.0)
FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
  AS u(device_id, ts_ms, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_ms)
ON CONFLICT (device_id, ts) DO NOTHING`

const positionParameters = (c: PositionColumns): Array<unknown> => [
  NO_RECEIVED_AT,
  text(c.deviceId),
  float8(c.tsMs),
  float8(c.lat),
  float8(c.lon),
  float8(c.altitude),
  float8(c.angle),
  float8(c.speed),
  float8(c.satellites),
  float8(c.priority),
  float8(c.eventId),
  text(c.attributes),
  text(c.streamId),
  float8(c.receivedAtMs),
]

/**
 * Runs INSERT_POSITIONS on a connection of `pool` and answers the inserted count: through the
 * pool's own `use` and the connection's `query` (a named prepared statement per connection), not
 * through @effect/sql's statements. A `sql` template keeps every compiled statement in a WeakMap keyed by the statement, and V8's young
 * collector keeps such an entry's value (the statement's parameters: every device id, attributes
 * text and stream id of a chunk, and through them the payloads they were cut from) alive until the
 * next full collection, so each chunk written was promoted to the old generation; reserving a
 * connection of the client's pool instead (`sql.reserve`) pins it with a scope, a finalizer and an
 * ownership semaphore per statement. This way, per five-row insert: ~15 KB allocated instead of
 * ~27 KB (reserved). The pool is the Writer's own (InsertPoolFromUrl).
 */
const runInsert = (pool: PgPool.PgPool, parameters: ReadonlyArray<unknown>) =>
  pool.use((connection) => connection.query(INSERT_POSITIONS, parameters)).pipe(Effect.map((result) => result.rowCount))

/** The insert with the driver encoding the arrays: what the bench's reference and ceiling run (the
 * reference as a team would write it; the processor's Writer runs `insertEncoded`). */
export const insertPositions = (pool: PgPool.PgPool, c: PositionColumns) => runInsert(pool, positionParameters(c))

/** The same insert with parameters the Writer encoded itself (encodedChunk.ts); the pool must have
 * the `encodedArraysRegistry` (InsertPoolFromUrl's pools do). */
export const insertEncoded = (pool: PgPool.PgPool, chunk: EncodedChunk) => runInsert(pool, chunk.parameters)

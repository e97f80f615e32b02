import { Effect } from "effect"
import type { SqlClient } from "effect/sql"
import { float8Array as float8, textArray as text } from "../db/arrays.ts"
import { NO_RECEIVED_AT, type PositionColumns } from "./positionColumns.ts"

/** One chunk in one round trip: arrays in, rows out through `unnest`, duplicates of (device_id, ts)
 * skipped. It answers how many were inserted (one row); every other one was a duplicate. (Returning
 * the inserted rows' ids cost a result row per record on both sides, and only the count is used.)
 * The parameters are numbered as `parameters` lists them. */
export const INSERT_POSITIONS = `
WITH written AS (
  INSERT INTO positions (device_id, ts, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_at)
  SELECT device_id, to_timestamp(ts_ms / 1000.0), lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes::jsonb, stream_id, to_timestamp(NULLIF(received_ms, $1) / 1000.0)
  FROM unnest($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    AS u(device_id, ts_ms, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_ms)
  ON CONFLICT (device_id, ts) DO NOTHING
  RETURNING 1
)
SELECT count(*)::int AS inserted FROM written`

const parameters = (c: PositionColumns): Array<unknown> => [
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
 * Runs INSERT_POSITIONS on a connection of the pool, as the driver's own `execute` with fixed text,
 * not as a `sql` template. @effect/sql keeps every compiled template statement in a WeakMap keyed by
 * the statement, and V8's young collector keeps such an entry's value (the statement's parameters:
 * every device id, attributes text and stream id of a chunk, and through them the payloads they were
 * cut from) alive until the next full collection: each chunk written was promoted to the old
 * generation. Measured over 5,000 five-row inserts: 1.4 KB promoted per statement as a template,
 * none this way; young-collection pauses 33 → 9 ms; client CPU 120 → 103 µs per statement. It takes
 * its own connection: not for use inside a transaction. The bench's reference and ceiling run this
 * same function.
 */
export const insertPositions = (sql: SqlClient.SqlClient, c: PositionColumns) =>
  Effect.scoped(
    Effect.flatMap(sql.reserve, (connection) => connection.execute(INSERT_POSITIONS, parameters(c), undefined)),
  ).pipe(
    Effect.map((rows: ReadonlyArray<{ readonly inserted?: unknown }>) =>
      typeof rows[0]?.inserted === "number" ? rows[0].inserted : 0,
    ),
  )

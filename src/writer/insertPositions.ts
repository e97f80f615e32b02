import { Effect } from "effect"
import type { SqlClient } from "effect/sql"
import { float8Array as float8, textArray as text } from "../db/arrays.ts"
import { NO_RECEIVED_AT, type PositionColumns } from "./positionColumns.ts"

/**
 * One chunk in one round trip: arrays in, rows out through `unnest`, duplicates of (device_id, ts)
 * skipped. It answers how many were inserted (one row from PostgreSQL); every other one was a duplicate. (Returning
 * the inserted rows' ids cost a result row per record on both sides, and only the count is used.)
 * The bench's reference and ceiling run this same statement.
 */
export const insertPositions = (sql: SqlClient.SqlClient, c: PositionColumns) =>
  sql<{ readonly inserted: number }>`
    WITH written AS (
    INSERT INTO positions (device_id, ts, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_at)
    SELECT device_id, to_timestamp(ts_ms / 1000.0), lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes::jsonb, stream_id, to_timestamp(NULLIF(received_ms, ${NO_RECEIVED_AT}) / 1000.0)
    FROM unnest(
      ${text(c.deviceId)}, ${float8(c.tsMs)}, ${float8(c.lat)}, ${float8(c.lon)}, ${float8(c.altitude)},
      ${float8(c.angle)}, ${float8(c.speed)}, ${float8(c.satellites)}, ${float8(c.priority)}, ${float8(c.eventId)},
      ${text(c.attributes)}, ${text(c.streamId)}, ${float8(c.receivedAtMs)}
    ) AS u(device_id, ts_ms, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_ms)
    ON CONFLICT (device_id, ts) DO NOTHING
    RETURNING 1
    )
    SELECT count(*)::int AS inserted FROM written`.pipe(Effect.map((rows) => rows[0]?.inserted ?? 0))

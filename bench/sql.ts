import { PgTypes } from "@effect/sql-pg"
import { type Effect, Result } from "effect"
import type { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"

/**
 * The row shape and the insert statement shared by the reference implementation and the Postgres
 * ceiling. The statement is the processor's (src/writer/Writer.ts): one `INSERT … SELECT FROM
 * unnest(typed arrays) ON CONFLICT (device_id, ts) DO NOTHING RETURNING stream_id` per chunk, with
 * the chunk sorted by (device_id, ts). Keep the two in step when the writer's SQL changes.
 */

export interface Row {
  readonly deviceId: string
  readonly tsMs: number
  readonly lat: number
  readonly lon: number
  readonly altitude: number
  readonly angle: number
  readonly speed: number
  readonly satellites: number
  readonly priority: number
  readonly eventId: number
  /** The attributes object as JSON text, for the jsonb[] parameter. */
  readonly attributes: string
  readonly streamId: string
  readonly receivedAtMs: number
}

/** The writer's marker for "no received_at" (an all-null array has no type the driver can infer). */
export const NO_RECEIVED_AT = -1

export const compareRows = (a: Row, b: Row): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.tsMs - b.tsMs

/** A payload (SPEC §3.1) as a row: what a team writes without a schema library. Throws on bad JSON. */
export const payloadToRow = (streamId: string, payload: string, receivedAt: string | undefined): Row => {
  const p = JSON.parse(payload) as {
    device_id: string
    ts: number | string
    lat: number
    lon: number
    altitude: number
    angle: number
    speed: number
    satellites: number
    priority: number
    event_id: number
    attributes?: Record<string, unknown>
  }
  return {
    deviceId: p.device_id,
    tsMs: typeof p.ts === "number" ? p.ts : Date.parse(p.ts),
    lat: p.lat,
    lon: p.lon,
    altitude: p.altitude,
    angle: p.angle,
    speed: p.speed,
    satellites: p.satellites,
    priority: p.priority,
    eventId: p.event_id,
    attributes: JSON.stringify(p.attributes ?? {}),
    streamId,
    receivedAtMs: receivedAt === undefined ? NO_RECEIVED_AT : Number(receivedAt),
  }
}

export interface Columns {
  readonly deviceId: Array<string>
  readonly tsMs: Array<number>
  readonly lat: Array<number>
  readonly lon: Array<number>
  readonly altitude: Array<number>
  readonly angle: Array<number>
  readonly speed: Array<number>
  readonly satellites: Array<number>
  readonly priority: Array<number>
  readonly eventId: Array<number>
  readonly attributes: Array<string>
  readonly streamId: Array<string>
  readonly receivedAtMs: Array<number>
}

/** Sorts the rows by (device_id, ts) and turns them into one array per column. */
export const toSortedColumns = (rows: ReadonlyArray<Row>): Columns => {
  const sorted = rows.slice().sort(compareRows)
  const c: Columns = {
    deviceId: [],
    tsMs: [],
    lat: [],
    lon: [],
    altitude: [],
    angle: [],
    speed: [],
    satellites: [],
    priority: [],
    eventId: [],
    attributes: [],
    streamId: [],
    receivedAtMs: [],
  }
  for (const r of sorted) {
    c.deviceId.push(r.deviceId)
    c.tsMs.push(r.tsMs)
    c.lat.push(r.lat)
    c.lon.push(r.lon)
    c.altitude.push(r.altitude)
    c.angle.push(r.angle)
    c.speed.push(r.speed)
    c.satellites.push(r.satellites)
    c.priority.push(r.priority)
    c.eventId.push(r.eventId)
    c.attributes.push(r.attributes)
    c.streamId.push(r.streamId)
    c.receivedAtMs.push(r.receivedAtMs)
  }
  return c
}

/** A one-dimensional array parameter with an explicit element type, as src/db/arrays.ts does: left
 * to inference the driver types each number by its value (int4/int8/float8) and refuses mixed arrays. */
const typedArray =
  (oid: number) =>
  (values: ReadonlyArray<unknown>): PgTypes.Parameter => {
    const parameter = PgTypes.array(values, oid)
    if (Result.isFailure(parameter)) throw parameter.failure
    return parameter.success
  }
const float8 = typedArray(PgTypes.OID.float8)
const text = typedArray(PgTypes.OID.text)

/** The writer's statement, verbatim in shape; resolves to the stream ids actually inserted. */
export const insertColumns = (
  sql: SqlClient.SqlClient,
  c: Columns,
): Effect.Effect<ReadonlyArray<{ readonly stream_id: string }>, SqlError> =>
  sql<{ readonly stream_id: string }>`
    INSERT INTO positions (device_id, ts, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_at)
    SELECT device_id, to_timestamp(ts_ms / 1000.0), lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes::jsonb, stream_id, to_timestamp(NULLIF(received_ms, ${NO_RECEIVED_AT}) / 1000.0)
    FROM unnest(
      ${text(c.deviceId)}, ${float8(c.tsMs)}, ${float8(c.lat)}, ${float8(c.lon)}, ${float8(c.altitude)},
      ${float8(c.angle)}, ${float8(c.speed)}, ${float8(c.satellites)}, ${float8(c.priority)}, ${float8(c.eventId)},
      ${text(c.attributes)}, ${text(c.streamId)}, ${float8(c.receivedAtMs)}
    ) AS u(device_id, ts_ms, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id, received_ms)
    ON CONFLICT (device_id, ts) DO NOTHING
    RETURNING stream_id`

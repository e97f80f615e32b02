import type * as PgPool from "@effect/sql-pg/PgPool"
import { insertPositions } from "../src/writer/insertPositions.ts"
import { NO_RECEIVED_AT, type PositionColumns } from "../src/writer/positionColumns.ts"

/**
 * The row shape of the reference implementation and the Postgres ceiling, and the statement they
 * share with the processor (src/writer/insertPositions.ts, imported, so the three cannot drift): one
 * `INSERT … SELECT FROM unnest(typed arrays) ON CONFLICT (device_id, ts) DO NOTHING`, answering
 * how many rows were inserted, per chunk, the chunk sorted by (device_id, ts). They hand the driver
 * plain arrays to encode (`insertPositions`); the processor's Writer encodes its own, to the same
 * bytes (`insertEncoded`, src/db/encodedArrays.ts).
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

export { NO_RECEIVED_AT }

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

export type Columns = PositionColumns

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

/** The processor's own statement (src/writer/insertPositions.ts), the arrays encoded by the driver. */
export const insertColumns = (pool: PgPool.PgPool, c: Columns) => insertPositions(pool, c)

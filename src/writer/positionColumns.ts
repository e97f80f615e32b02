import type { Position } from "../domain/Position.ts"
import { type PositionBatch, TS } from "../domain/PositionBatch.ts"

/** A chunk of positions as one array per column: the parameters of one `unnest` insert, as the
 * driver encodes them (the bench's reference and ceiling; the Writer encodes its own, encodedChunk.ts). */
export interface PositionColumns {
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
  /** -1 for "not given": an array of nothing but nulls has no type the driver can infer. */
  readonly receivedAtMs: Array<number>
}

export const NO_RECEIVED_AT = -1

export const toColumns = (positions: ReadonlyArray<Position>, from = 0, to = positions.length): PositionColumns => {
  const n = to - from
  const columns: PositionColumns = {
    deviceId: new Array(n),
    tsMs: new Array(n),
    lat: new Array(n),
    lon: new Array(n),
    altitude: new Array(n),
    angle: new Array(n),
    speed: new Array(n),
    satellites: new Array(n),
    priority: new Array(n),
    eventId: new Array(n),
    attributes: new Array(n),
    streamId: new Array(n),
    receivedAtMs: new Array(n),
  }
  for (let i = 0; i < n; i++) {
    const p = positions[from + i] as Position
    columns.deviceId[i] = p.deviceId
    columns.tsMs[i] = p.tsMs
    columns.lat[i] = p.lat
    columns.lon[i] = p.lon
    columns.altitude[i] = p.altitude
    columns.angle[i] = p.angle
    columns.speed[i] = p.speed
    columns.satellites[i] = p.satellites
    columns.priority[i] = p.priority
    columns.eventId[i] = p.eventId
    columns.attributes[i] = p.attributesJson
    columns.streamId[i] = p.streamId
    columns.receivedAtMs[i] = p.receivedAtMs ?? NO_RECEIVED_AT
  }
  return columns
}

/**
 * The rows of `batch` in key order, so that concurrent writers take row locks in the same order and
 * cannot deadlock on ON CONFLICT: every writer (and every processor, of any version in a rolling
 * deploy) sorts the same way. The order is on (digits value, id length, time) for ids of up to 15
 * digits (IMEIs), which sort before the others; those go by (id text, time). For ids of one length
 * it is the text order, which keeps PostgreSQL's (device_id, ts) index inserts local. Comparing
 * numbers the decoder already worked out (`deviceDigits`) instead of id strings made sorting a
 * 1,000-position batch several times cheaper.
 */
export const sortOrder = (batch: PositionBatch): Array<number> => {
  const n = batch.length
  const digits = batch.deviceDigits
  const ts = batch.numbers.subarray(TS * batch.capacity, TS * batch.capacity + n)
  const order: Array<number> = new Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  /** The id texts of rows whose ids are not up to 15 digits, as they are needed. */
  let ids: Array<string> | undefined
  const idOf = (row: number): string => {
    ids ??= new Array(n)
    const known = ids[row]
    if (known !== undefined) return known
    const id = batch.deviceId(row)
    ids[row] = id
    return id
  }
  const length = (row: number) => (batch.deviceEnd[row] as number) - (batch.deviceStart[row] as number)
  order.sort((i, j) => {
    const a = digits[i] as number
    const b = digits[j] as number
    if (a !== b) return a < b ? -1 : 1
    if (a !== Number.POSITIVE_INFINITY) {
      if (length(i) !== length(j)) return length(i) - length(j)
    } else {
      const p = idOf(i)
      const q = idOf(j)
      if (p !== q) return p < q ? -1 : 1
    }
    return (ts[i] as number) - (ts[j] as number)
  })
  return order
}

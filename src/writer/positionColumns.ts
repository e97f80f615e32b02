import type { Position } from "../domain/Position.ts"

/** A chunk of positions as one array per column: the parameters of one `unnest` insert. */
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

/** The value of an id of 1–15 decimal digits (exact in a double), else +Infinity. */
const digitsValue = (id: string): number => {
  if (id.length === 0 || id.length > 15) return Number.POSITIVE_INFINITY
  let value = 0
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i) - 48
    if (c < 0 || c > 9) return Number.POSITIVE_INFINITY
    value = value * 10 + c
  }
  return value
}

/**
 * The positions in key order, so that concurrent writers take row locks in the same order and
 * cannot deadlock on ON CONFLICT: every writer (and every processor) sorts the same way. The order
 * is on (digits value, id length, time) for ids of up to 15 digits (IMEIs), which sort before the
 * others; those go by (id text, time). For ids of one length it is the text order, which keeps
 * PostgreSQL's (device_id, ts) index inserts local. Comparing two numbers instead of two strings
 * (cut from the payloads) made sorting a 1,000-position batch several times cheaper.
 */
export const sortByKey = (positions: ReadonlyArray<Position>): Array<Position> => {
  const n = positions.length
  const value = new Float64Array(n)
  const order: Array<number> = new Array(n)
  for (let i = 0; i < n; i++) {
    const p = positions[i] as Position
    value[i] = typeof p.deviceKey === "number" ? p.deviceKey : digitsValue(p.deviceId)
    order[i] = i
  }
  order.sort((i, j) => {
    const a = value[i] as number
    const b = value[j] as number
    if (a !== b) return a < b ? -1 : 1
    const p = positions[i] as Position
    const q = positions[j] as Position
    if (a !== Number.POSITIVE_INFINITY) {
      if (p.deviceId.length !== q.deviceId.length) return p.deviceId.length - q.deviceId.length
    } else if (p.deviceId !== q.deviceId) return p.deviceId < q.deviceId ? -1 : 1
    return p.tsMs - q.tsMs
  })
  const sorted: Array<Position> = new Array(n)
  for (let k = 0; k < n; k++) sorted[k] = positions[order[k] as number] as Position
  return sorted
}

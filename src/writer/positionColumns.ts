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

/** (device_id, ts) order: concurrent writers then take row locks in the same order and cannot
 * deadlock on ON CONFLICT. */
export const compareByKey = (a: Position, b: Position): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.tsMs - b.tsMs

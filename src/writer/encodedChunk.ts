import * as PgTypes from "@effect/sql-pg/PgTypes"
import { BinaryArrayReader, BinaryArrayWriter, type EncodedArray, encodedParameter } from "../db/encodedArrays.ts"
import { deviceKeyOf, type Position } from "../domain/Position.ts"
import { NO_RECEIVED_AT } from "./positionColumns.ts"

/**
 * A chunk of positions as the parameters of one INSERT_POSITIONS, already in PostgreSQL's binary
 * array format (src/db/encodedArrays.ts says why), and the way back to positions for the rare
 * chunk PostgreSQL rejects, which the Writer then narrows down row by row.
 */
export interface EncodedChunk {
  readonly rows: number
  /** In INSERT_POSITIONS's order: $1 is the "no received_at" marker, $2… the columns. */
  readonly parameters: ReadonlyArray<PgTypes.Parameter>
  readonly arrays: ReadonlyArray<EncodedArray>
}

const { text: TEXT, float8: FLOAT8 } = PgTypes.OID

/** INSERT_POSITIONS's array parameters ($2…$14): three text and ten float8 columns. */
const TEXT_COLUMNS = 3
const FLOAT8_COLUMNS = 10

const NO_RECEIVED_AT_PARAMETER = PgTypes.float8(NO_RECEIVED_AT)

/** positions[from, to), in that order. One loop per column: the arrays go one after the other. */
export const encodeChunk = (positions: ReadonlyArray<Position>, from = 0, to = positions.length): EncodedChunk => {
  const rows = to - from
  let textLength = 0
  for (let i = from; i < to; i++) {
    const p = positions[i] as Position
    textLength += p.deviceId.length + p.attributesJson.length + p.streamId.length
  }
  // Headers, the float8 elements, the text elements' lengths and (as ASCII) their bytes.
  const columns = TEXT_COLUMNS + FLOAT8_COLUMNS
  const w = new BinaryArrayWriter(columns * 20 + rows * (FLOAT8_COLUMNS * 12 + TEXT_COLUMNS * 4) + textLength)
  const at = (i: number) => positions[i] as Position
  w.begin(TEXT, rows)
  for (let i = from; i < to; i++) w.text(at(i).deviceId)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).tsMs)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).lat)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).lon)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).altitude)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).angle)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).speed)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).satellites)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).priority)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).eventId)
  w.end()
  w.begin(TEXT, rows)
  for (let i = from; i < to; i++) w.text(at(i).attributesJson)
  w.end()
  w.begin(TEXT, rows)
  for (let i = from; i < to; i++) w.text(at(i).streamId)
  w.end()
  w.begin(FLOAT8, rows)
  for (let i = from; i < to; i++) w.float8(at(i).receivedAtMs ?? NO_RECEIVED_AT)
  w.end()
  const arrays = w.finish()
  const parameters: Array<PgTypes.Parameter> = [NO_RECEIVED_AT_PARAMETER]
  for (const array of arrays) parameters.push(encodedParameter(array))
  return { rows, parameters, arrays }
}

/** Reads back what encodeChunk wrote. */
export const decodeChunk = (chunk: EncodedChunk): Array<Position> => {
  const readers = chunk.arrays.map((array) => new BinaryArrayReader(array))
  const column = (c: number) => readers[c] as BinaryArrayReader
  const positions: Array<Position> = []
  for (let i = 0; i < chunk.rows; i++) {
    const deviceId = column(0).text()
    const tsMs = column(1).float8()
    const lat = column(2).float8()
    const lon = column(3).float8()
    const altitude = column(4).float8()
    const angle = column(5).float8()
    const speed = column(6).float8()
    const satellites = column(7).float8()
    const priority = column(8).float8()
    const eventId = column(9).float8()
    const attributesJson = column(10).text()
    const streamId = column(11).text()
    const receivedAtMs = column(12).float8()
    positions.push({
      streamId,
      deviceId,
      deviceKey: deviceKeyOf(deviceId),
      tsMs,
      lat,
      lon,
      altitude,
      angle,
      speed,
      satellites,
      priority,
      eventId,
      attributesJson,
      receivedAtMs: receivedAtMs === NO_RECEIVED_AT ? null : receivedAtMs,
    })
  }
  return positions
}

import * as PgTypes from "@effect/sql-pg/PgTypes"
import { BinaryArrayReader, BinaryArrayWriter, type EncodedArray, encodedParameter } from "../db/encodedArrays.ts"
import { deviceKeyOf, type Position } from "../domain/Position.ts"
import {
  ALTITUDE,
  ANGLE,
  EVENT_ID,
  LAT,
  LON,
  type PositionBatch,
  PRIORITY,
  RECEIVED_AT,
  SATELLITES,
  SPEED,
  TS,
} from "../domain/PositionBatch.ts"
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

/** The numeric columns after the device id, in INSERT_POSITIONS's order ($3…$11). */
const FIX_COLUMNS = [TS, LAT, LON, ALTITUDE, ANGLE, SPEED, SATELLITES, PRIORITY, EVENT_ID] as const

/** Rows order[from, to) of `batch`, in that order. The texts are copied from the batch's bytes. */
export const encodeRows = (batch: PositionBatch, order: ArrayLike<number>, from: number, to: number): EncodedChunk => {
  const rows = to - from
  let textLength = 0
  for (let k = from; k < to; k++) {
    const row = order[k] as number
    textLength +=
      (batch.deviceEnd[row] as number) -
      (batch.deviceStart[row] as number) +
      (batch.attributesEnd[row] as number) -
      (batch.attributesStart[row] as number) +
      (batch.streamIds[row] as string).length
  }
  // Headers, the float8 elements, the text elements' lengths and their bytes (stream ids: ASCII).
  const columns = TEXT_COLUMNS + FLOAT8_COLUMNS
  const w = new BinaryArrayWriter(columns * 20 + rows * (FLOAT8_COLUMNS * 12 + TEXT_COLUMNS * 4) + textLength)
  w.begin(TEXT, rows)
  for (let k = from; k < to; k++) {
    const row = order[k] as number
    w.bytes(batch.textsOf(row), batch.deviceStart[row] as number, batch.deviceEnd[row] as number)
  }
  w.end()
  const numbers = batch.numbers
  const capacity = batch.capacity
  for (const column of FIX_COLUMNS) {
    const base = column * capacity
    w.begin(FLOAT8, rows)
    for (let k = from; k < to; k++) w.float8(numbers[base + (order[k] as number)] as number)
    w.end()
  }
  w.begin(TEXT, rows)
  for (let k = from; k < to; k++) {
    const row = order[k] as number
    w.bytes(batch.textsOf(row), batch.attributesStart[row] as number, batch.attributesEnd[row] as number)
  }
  w.end()
  w.begin(TEXT, rows)
  for (let k = from; k < to; k++) w.text(batch.streamIds[order[k] as number] as string)
  w.end()
  w.begin(FLOAT8, rows)
  const receivedAt = RECEIVED_AT * capacity
  for (let k = from; k < to; k++) {
    const value = numbers[receivedAt + (order[k] as number)] as number
    w.float8(Number.isNaN(value) ? NO_RECEIVED_AT : value)
  }
  w.end()
  const arrays = w.finish()
  const parameters: Array<PgTypes.Parameter> = [NO_RECEIVED_AT_PARAMETER]
  for (const array of arrays) parameters.push(encodedParameter(array))
  return { rows, parameters, arrays }
}

/** Reads back what encodeRows wrote. */
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

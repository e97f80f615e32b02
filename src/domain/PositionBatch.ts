import { type DeviceKey, deviceKeyOf, type Position } from "./Position.ts"

/** The numeric columns of a PositionBatch, in `numbers` at `column * capacity + row`. */
export const TS = 0
export const LAT = 1
export const LON = 2
export const ALTITUDE = 3
export const ANGLE = 4
export const SPEED = 5
export const SATELLITES = 6
export const PRIORITY = 7
export const EVENT_ID = 8
/** NaN when the producer did not say (Position's null). */
export const RECEIVED_AT = 9
export const NUMBER_COLUMNS = 10

const DIGIT_0 = 0x30
const MAX_KEY_DIGITS = 15

/** The value of 1–15 ASCII digits (leading zeros included), else +Infinity: for a device id, what the
 * write order sorts on (Writer's sortOrder); also a plain `received_at`. Exact: below 2^53. */
export const digitsValue = (bytes: Uint8Array, start: number, end: number): number => {
  const length = end - start
  if (length < 1 || length > MAX_KEY_DIGITS) return Number.POSITIVE_INFINITY
  let value = 0
  for (let i = start; i < end; i++) {
    const digit = (bytes[i] as number) - DIGIT_0
    if (digit < 0 || digit > 9) return Number.POSITIVE_INFINITY
    value = value * 10 + digit
  }
  return value
}

/** 0, 1, …, n − 1: rows in the order they are. */
export const inOrder = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

/** Buffer's own decoders, without `toString`'s argument checks. */
interface BufferSlices {
  utf8Slice(start: number, end: number): string
  utf8Write(text: string, offset: number, length: number): number
}

const slices = (bytes: Buffer): BufferSlices => bytes as unknown as BufferSlices

/**
 * One batch of decoded positions as columns, with the texts (device id, attributes) as byte ranges
 * of the stream reply they were read from.
 *
 * Why: a Position object per record, with its device id and attributes cut as strings from a payload
 * string cut from the reply, was most of what the processor allocated and most of what V8 promoted
 * while draining. Decoded in place, a batch is a few typed arrays over the reply's bytes, and the
 * Writer copies the texts from those bytes into its INSERT's arrays. Rows decoded some other way
 * (the full JSON path, tests) keep their texts in a second buffer of the batch's own.
 *
 * Built row by row: the decoder writes row `length` (its numbers and text ranges) and `commit`s
 * it; a row not committed is overwritten by the next. Read-only once built.
 */
export class PositionBatch {
  length = 0
  readonly capacity: number
  /** Stream id of each row. */
  readonly streamIds: Array<string> = []
  readonly numbers: Float64Array
  /** `digitsValue` of each row's device id. */
  readonly deviceDigits: Float64Array
  readonly deviceStart: Int32Array
  readonly deviceEnd: Int32Array
  readonly attributesStart: Int32Array
  readonly attributesEnd: Int32Array
  /** 1 when the row's texts are in `extra` (the batch's own), 0 when in the reply (`source`). */
  readonly inExtra: Uint8Array
  /** Holds the bytes decoded rows' texts are in: the reply they were read from. Read through it, not
   * kept: a reply's buffer is reused once released, and reading it then throws. */
  private readonly source: TextSource
  private extra: Buffer | undefined
  private extraLength = 0

  /** `arrays`: where the columns come from, when they are to go back with the reply the rows are
   * read from (RespTape.scratch); else they are allocated. */
  constructor(source: TextSource, capacity: number, arrays: ColumnArrays = ALLOCATE) {
    this.source = source
    this.capacity = capacity
    this.numbers = arrays.float64(NUMBER_COLUMNS * capacity)
    this.deviceDigits = arrays.float64(capacity)
    this.deviceStart = arrays.int32(capacity)
    this.deviceEnd = arrays.int32(capacity)
    this.attributesStart = arrays.int32(capacity)
    this.attributesEnd = arrays.int32(capacity)
    this.inExtra = arrays.uint8(capacity)
  }

  /** A batch of these positions, in this order (the full decoding path's rows, tests). */
  static of(positions: ReadonlyArray<Position>): PositionBatch {
    const batch = new PositionBatch(NO_SOURCE, positions.length)
    for (const position of positions) batch.append(position)
    return batch
  }

  number(column: number, row: number): number {
    return this.numbers[column * this.capacity + row] as number
  }

  /** Completes row `length`, whose numbers and texts are written. */
  commit(streamId: string): void {
    this.streamIds.push(streamId)
    this.length++
  }

  /** Appends a decoded Position as the next row, its texts copied (as UTF-8) into `extra`. */
  append(position: Position): void {
    const row = this.length
    const at = this.capacity
    const n = this.numbers
    n[TS * at + row] = position.tsMs
    n[LAT * at + row] = position.lat
    n[LON * at + row] = position.lon
    n[ALTITUDE * at + row] = position.altitude
    n[ANGLE * at + row] = position.angle
    n[SPEED * at + row] = position.speed
    n[SATELLITES * at + row] = position.satellites
    n[PRIORITY * at + row] = position.priority
    n[EVENT_ID * at + row] = position.eventId
    n[RECEIVED_AT * at + row] = position.receivedAtMs ?? Number.NaN
    this.inExtra[row] = 1
    this.deviceStart[row] = this.extraLength
    this.deviceEnd[row] = this.writeExtra(position.deviceId)
    this.attributesStart[row] = this.extraLength
    this.attributesEnd[row] = this.writeExtra(position.attributesJson)
    const extra = this.extra as Buffer
    this.deviceDigits[row] = digitsValue(extra, this.deviceStart[row] as number, this.deviceEnd[row] as number)
    this.commit(position.streamId)
  }

  /** The buffer that holds `row`'s texts (its ranges are in deviceStart/End, attributesStart/End).
   * Throws once the reply the batch was read from is released, whichever buffer that is: the
   * columns then belong to a later reply. */
  textsOf(row: number): Buffer {
    const bytes = this.source.bytes
    return this.inExtra[row] === 1 ? (this.extra as Buffer) : bytes
  }

  deviceId(row: number): string {
    return slices(this.textsOf(row)).utf8Slice(this.deviceStart[row] as number, this.deviceEnd[row] as number)
  }

  /** The row's device as the device state keys it (`deviceKeyOf` its id), without the id string
   * for an IMEI. */
  deviceKey(row: number): DeviceKey {
    const digits = this.deviceDigits[row] as number
    if (digits !== Number.POSITIVE_INFINITY) {
      const start = this.deviceStart[row] as number
      // A leading zero makes it a string key: "007" is not the device "7".
      if ((this.deviceEnd[row] as number) - start === 1 || this.textsOf(row)[start] !== DIGIT_0) return digits
    }
    return deviceKeyOf(this.deviceId(row))
  }

  attributesJson(row: number): string {
    return slices(this.textsOf(row)).utf8Slice(this.attributesStart[row] as number, this.attributesEnd[row] as number)
  }

  /** The row as a Position object (the rare paths: dead letters, tests). */
  position(row: number): Position {
    const receivedAtMs = this.number(RECEIVED_AT, row)
    const deviceId = this.deviceId(row)
    return {
      streamId: this.streamIds[row] as string,
      deviceId,
      deviceKey: deviceKeyOf(deviceId),
      tsMs: this.number(TS, row),
      lat: this.number(LAT, row),
      lon: this.number(LON, row),
      altitude: this.number(ALTITUDE, row),
      angle: this.number(ANGLE, row),
      speed: this.number(SPEED, row),
      satellites: this.number(SATELLITES, row),
      priority: this.number(PRIORITY, row),
      eventId: this.number(EVENT_ID, row),
      attributesJson: this.attributesJson(row),
      receivedAtMs: Number.isNaN(receivedAtMs) ? null : receivedAtMs,
    }
  }

  positions(): Array<Position> {
    const out: Array<Position> = []
    for (let row = 0; row < this.length; row++) out.push(this.position(row))
    return out
  }

  /** Appends `text` as UTF-8 to `extra`; returns where it ends. */
  private writeExtra(text: string): number {
    const needed = this.extraLength + text.length * 3
    let extra = this.extra
    if (extra === undefined || needed > extra.length) {
      const grown = Buffer.allocUnsafe(Math.max(256, needed, (extra?.length ?? 0) * 2))
      extra?.copy(grown, 0, 0, this.extraLength)
      extra = grown
      this.extra = grown
    }
    this.extraLength += slices(extra).utf8Write(text, this.extraLength, extra.length - this.extraLength)
    return this.extraLength
  }
}

/** Where a batch's columns come from. Their contents need not be cleared: a row's columns are all
 * written before it is committed. */
export interface ColumnArrays {
  float64(length: number): Float64Array<ArrayBuffer>
  int32(length: number): Int32Array<ArrayBuffer>
  uint8(length: number): Uint8Array<ArrayBuffer>
}

const ALLOCATE: ColumnArrays = {
  float64: (length) => new Float64Array(length),
  int32: (length) => new Int32Array(length),
  uint8: (length) => new Uint8Array(length),
}

/** What decoded rows' texts are read from (an EntryBlock). */
export interface TextSource {
  readonly bytes: Buffer
}

const NO_SOURCE: TextSource = { bytes: Buffer.alloc(0) }

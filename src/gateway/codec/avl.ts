import { Result } from "effect"
import {
  BadTimestamp,
  IoCountMismatch,
  isTeltonikaCodecError,
  LengthMismatch,
  RecordCountMismatch,
  type TeltonikaCodecError,
  UnsupportedCodec,
} from "./errors.ts"
import { Reader } from "./reader.ts"

export const CODEC_8 = 0x08
export const CODEC_8E = 0x8e
export const CODEC_16 = 0x10

/** The AVL data codecs this gateway ingests. */
export type AvlCodecId = typeof CODEC_8 | typeof CODEC_8E | typeof CODEC_16

export const isAvlCodecId = (n: number): n is AvlCodecId => n === CODEC_8 || n === CODEC_8E || n === CODEC_16

/**
 * One IO element, in wire order. Values are unsigned as sent. 8-byte values are always `bigint`
 * (never a number, even when small) so one element type has one value type and 64-bit values round
 * trip exactly; convert with {@link ioValue} where a number is wanted. Variable-length (Codec 8E NX)
 * elements keep their bytes as a view into the received frame.
 */
export type IoElement =
  | { readonly id: number; readonly width: 1 | 2 | 4; readonly value: number }
  | { readonly id: number; readonly width: 8; readonly value: bigint }
  | { readonly id: number; readonly width: "x"; readonly bytes: Uint8Array }

export type IoWidth = IoElement["width"]

export interface AvlRecord {
  /** Epoch milliseconds (UTC). */
  readonly timestampMs: number
  /** 0 low, 1 high, 2 panic per the protocol; other values are passed through, not rejected. */
  readonly priority: number
  /** Signed, 1e-7 degrees. */
  readonly longitude: number
  /** Signed, 1e-7 degrees. */
  readonly latitude: number
  /** Metres, signed 16-bit (below sea level is possible). */
  readonly altitude: number
  readonly angle: number
  readonly satellites: number
  /** km/h */
  readonly speed: number
  readonly eventIoId: number
  /** Codec 16 only; passed through unvalidated (the protocol defines 0..7). */
  readonly generationType?: number
  readonly io: ReadonlyArray<IoElement>
}

export interface AvlDecodeOptions {
  /** Fail with IoCountMismatch when a record's declared total IO count differs from the parsed count. */
  readonly strictIoTotal?: boolean | undefined
}

/** Exact unsigned value as a number when it fits in 2^53-1, else the bigint; NX elements have no numeric value. */
export const ioValue = (el: IoElement): number | bigint | undefined => {
  if (el.width === "x") return undefined
  if (el.width !== 8) return el.value
  return el.value <= MAX_SAFE ? Number(el.value) : el.value
}

/** Lower-case hex of an element's value bytes as they were on the wire. */
export const ioHex = (el: IoElement): string => {
  if (el.width === "x") return toHex(el.bytes)
  if (el.width === 8) return el.value.toString(16).padStart(16, "0")
  return el.value.toString(16).padStart(el.width * 2, "0")
}

export const toHex = (bytes: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i] ?? 0]
  return s
}

const HEX: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const FIXED_WIDTHS = [1, 2, 4, 8] as const
// Timestamps are read as two u32 halves; a high half above this would exceed 2^53-1.
const MAX_TS_HIGH = 0x1fffff

/**
 * Reads `count1, records, count2` of an AVL data field whose codec id has already been read, and
 * requires the data field to end exactly after count2.
 */
export const readAvlRecords = (r: Reader, codecId: AvlCodecId, strictIoTotal: boolean): Array<AvlRecord> => {
  const count = r.u8("number of data 1")
  const records: Array<AvlRecord> = []
  for (let i = 0; i < count; i++) records.push(readRecord(r, codecId, strictIoTotal, i))
  const count2 = r.u8("number of data 2")
  if (count2 !== count) throw new RecordCountMismatch({ first: count, second: count2 })
  if (r.pos !== r.end) {
    throw new LengthMismatch({ field: "AVL data field", declared: r.end - r.base, actual: r.pos - r.base })
  }
  return records
}

const readRecord = (r: Reader, codecId: AvlCodecId, strictIoTotal: boolean, index: number): AvlRecord => {
  r.need(8, "timestamp")
  const v = r.view
  const p = r.pos
  const hi = v.getUint32(p)
  if (hi > MAX_TS_HIGH) throw new BadTimestamp({ hex: v.getBigUint64(p).toString(16).padStart(16, "0") })
  const timestampMs = hi * 0x1_0000_0000 + v.getUint32(p + 4)
  r.pos = p + 8
  const priority = r.u8("priority")
  r.need(15, "GPS element")
  const g = r.pos
  const longitude = v.getInt32(g)
  const latitude = v.getInt32(g + 4)
  const altitude = v.getInt16(g + 8)
  const angle = v.getUint16(g + 10)
  const satellites = v.getUint8(g + 12)
  const speed = v.getUint16(g + 13)
  r.pos = g + 15

  const wide = codecId !== CODEC_8
  let eventIoId: number
  let generationType = -1
  let declared: number
  if (codecId === CODEC_8) {
    eventIoId = r.u8("event IO id")
    declared = r.u8("IO total count")
  } else if (codecId === CODEC_8E) {
    eventIoId = r.u16("event IO id")
    declared = r.u16("IO total count")
  } else {
    eventIoId = r.u16("event IO id")
    generationType = r.u8("generation type")
    declared = r.u8("IO total count")
  }

  const io: Array<IoElement> = []
  for (const width of FIXED_WIDTHS) {
    const n = codecId === CODEC_8E ? r.u16("IO count") : r.u8("IO count")
    for (let k = 0; k < n; k++) {
      const id = wide ? r.u16("IO id") : r.u8("IO id")
      switch (width) {
        case 1:
          io.push({ id, width, value: r.u8("IO value") })
          break
        case 2:
          io.push({ id, width, value: r.u16("IO value") })
          break
        case 4:
          io.push({ id, width, value: r.u32("IO value") })
          break
        case 8:
          io.push({ id, width, value: r.u64("IO value") })
          break
      }
    }
  }
  if (codecId === CODEC_8E) {
    const nx = r.u16("NX count")
    for (let k = 0; k < nx; k++) {
      const id = r.u16("IO id")
      const len = r.u16("NX length")
      io.push({ id, width: "x", bytes: r.slice(len, "NX value") })
    }
  }
  if (strictIoTotal && declared !== io.length) {
    throw new IoCountMismatch({ record: index, declared, parsed: io.length })
  }

  // Two literal shapes rather than a conditional spread keep the hot path allocation-free.
  return generationType < 0
    ? { timestampMs, priority, longitude, latitude, altitude, angle, satellites, speed, eventIoId, io }
    : { timestampMs, priority, longitude, latitude, altitude, angle, satellites, speed, eventIoId, generationType, io }
}

export interface AvlData {
  readonly codecId: AvlCodecId
  readonly records: ReadonlyArray<AvlRecord>
}

/**
 * Decodes a bare AVL data field (codec id through the second record count, no preamble/length/CRC),
 * e.g. the part of a frame the CRC covers.
 */
export const decodeAvlData = (
  bytes: Uint8Array,
  options?: AvlDecodeOptions,
): Result.Result<AvlData, TeltonikaCodecError> => {
  try {
    const r = new Reader(bytes, 0, 0, bytes.length)
    const codecId = r.u8("codec id")
    if (!isAvlCodecId(codecId)) throw new UnsupportedCodec({ codecId })
    return Result.succeed({ codecId, records: readAvlRecords(r, codecId, options?.strictIoTotal === true) })
  } catch (e) {
    return failure(e)
  }
}

/** Anything not one of ours is a bug in this module, so it stays a thrown defect. */
export const failure = (e: unknown): Result.Result<never, TeltonikaCodecError> => {
  if (isTeltonikaCodecError(e)) return Result.fail(e)
  throw e
}

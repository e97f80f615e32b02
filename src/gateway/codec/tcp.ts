import { Result } from "effect"
import { type AvlCodecId, type AvlDecodeOptions, type AvlRecord, failure, isAvlCodecId, readAvlRecords } from "./avl.ts"
import { crc16 } from "./crc16.ts"
import { ackFor } from "./encode.ts"
import {
  BadImei,
  BadPreamble,
  CrcMismatch,
  FrameTooLarge,
  Incomplete,
  LengthMismatch,
  type TeltonikaCodecError,
  UnsupportedCodec,
} from "./errors.ts"
import { asciiImei, IMEI_LENGTH } from "./imei.ts"
import { type CodecMessage, isMessageCodecId, type MessageCodecId, readMessages } from "./message.ts"
import { Reader } from "./reader.ts"

/**
 * What the caller's connection state expects next. The 0xFF keep-alive is accepted in every state.
 * "any" tells a login from an AVL packet by its first two bytes (an IMEI length is never 0) and is
 * meant for tools and tests, not for a connection that must enforce login-first.
 */
export type TcpExpect = "login" | "data" | "any"

export interface TcpDecodeOptions extends AvlDecodeOptions {
  /** Largest whole frame (preamble + length + data + CRC) accepted; a bigger length field fails at once. */
  readonly maxFrameSize?: number | undefined
}

/** Generous for AVL (devices send ~1–2 KiB) while leaving room for Codec 12 file/camera chunks. */
export const DEFAULT_MAX_FRAME_SIZE = 65_536

/*
 * `raw` and any byte payloads in a frame are views into the bytes that were pushed (or into a buffer
 * the decoder assembled from them); the decoder never mutates either, so they stay valid as long as
 * the caller does not reuse its chunks.
 */

export interface ImeiFrame {
  readonly _tag: "Imei"
  readonly imei: string
  readonly raw: Uint8Array
}

export interface PingFrame {
  readonly _tag: "Ping"
  readonly raw: Uint8Array
}

export interface AvlFrame {
  readonly _tag: "Avl"
  readonly codecId: AvlCodecId
  readonly records: ReadonlyArray<AvlRecord>
  /** The data length field: bytes from the codec id through the second record count. */
  readonly dataLength: number
  readonly crc: number
  /** The reply owed once every record is durably stored: the 4-byte record count. */
  readonly ack: Uint8Array
  readonly raw: Uint8Array
}

export interface MessageFrame {
  readonly _tag: "Message"
  readonly codecId: MessageCodecId
  readonly messages: ReadonlyArray<CodecMessage>
  readonly dataLength: number
  readonly crc: number
  readonly raw: Uint8Array
}

export type TcpFrame = ImeiFrame | PingFrame | AvlFrame | MessageFrame

const PING = 0xff
const AVL_HEADER = 8
const CRC_FIELD = 4
// codec id + two record counts: the smallest data field that can be well-formed.
const MIN_DATA_LENGTH = 3

/**
 * Size of the frame starting at `off` if its header is complete, otherwise the header size still
 * needed (always > `avail`). Structural faults visible in the header throw here, before any byte
 * beyond the header is waited for, so a hostile length field never makes a caller buffer.
 */
const frameSize = (buf: Uint8Array, off: number, avail: number, expect: TcpExpect, max: number): number => {
  if (avail < 1) return 1
  const b0 = buf[off] ?? 0
  if (b0 === PING) return 1
  let mode = expect
  if (mode === "any") {
    if (b0 !== 0) mode = "data"
    else if (avail < 2) return 2
    else mode = buf[off + 1] === 0 ? "data" : "login"
  }
  if (mode === "login") {
    if (b0 !== 0) throw new BadImei({ reason: "length field", length: b0 * 256 + (buf[off + 1] ?? 0) })
    if (avail < 2) return 2
    const len = buf[off + 1] ?? 0
    if (len !== IMEI_LENGTH) throw new BadImei({ reason: "length field", length: len })
    return 2 + len
  }
  const seen = Math.min(avail, 4)
  let preamble = 0
  for (let i = 0; i < 4; i++) preamble = preamble * 256 + (i < seen ? (buf[off + i] ?? 0) : 0)
  if (preamble !== 0) throw new BadPreamble({ preamble })
  if (avail < AVL_HEADER) return AVL_HEADER
  const dataLength =
    (((buf[off + 4] ?? 0) << 24) | ((buf[off + 5] ?? 0) << 16) | ((buf[off + 6] ?? 0) << 8) | (buf[off + 7] ?? 0)) >>> 0
  if (dataLength < MIN_DATA_LENGTH) {
    throw new LengthMismatch({ field: "AVL data length (minimum)", declared: dataLength, actual: MIN_DATA_LENGTH })
  }
  const size = AVL_HEADER + dataLength + CRC_FIELD
  if (size > max) throw new FrameTooLarge({ size, max })
  return size
}

/** Decodes a frame whose size `frameSize` has confirmed is fully present at `off`. */
const decodeFrame = (buf: Uint8Array, off: number, size: number, strictIoTotal: boolean): TcpFrame => {
  const raw = buf.subarray(off, off + size)
  const b0 = buf[off] ?? 0
  if (b0 === PING) return { _tag: "Ping", raw }
  if (buf[off + 1] !== 0) return { _tag: "Imei", imei: asciiImei(buf, off + 2, size - 2), raw }

  const dataStart = off + AVL_HEADER
  const dataEnd = off + size - CRC_FIELD
  const r = new Reader(buf, off, dataStart, dataEnd)
  const received = r.view.getUint32(dataEnd)
  const computed = crc16(buf, dataStart, dataEnd)
  if (received !== computed) throw new CrcMismatch({ received, computed })
  const dataLength = dataEnd - dataStart
  const codecId = r.u8("codec id")
  if (isAvlCodecId(codecId)) {
    const records = readAvlRecords(r, codecId, strictIoTotal)
    return { _tag: "Avl", codecId, records, dataLength, crc: computed, ack: ackFor(records.length), raw }
  }
  if (isMessageCodecId(codecId)) {
    return { _tag: "Message", codecId, messages: readMessages(r, codecId), dataLength, crc: computed, raw }
  }
  throw new UnsupportedCodec({ codecId })
}

const EMPTY = new Uint8Array(0)

/**
 * Incremental TCP frame decoder for one connection. `push` the socket's chunks, then call `next`
 * until it returns `undefined` (more bytes needed). A failure is sticky: the connection's byte
 * stream has lost its framing and the caller should close it.
 *
 * Memory stays bounded as long as `next` is drained after each `push`: bytes are only held while a
 * frame is incomplete, and a frame's size is checked against `maxFrameSize` as soon as its header
 * arrives. Partial chunks are joined once per frame (not per chunk), so byte-at-a-time input costs
 * O(frame size), not O(size²).
 */
export class TcpFrameDecoder {
  readonly maxFrameSize: number
  readonly strictIoTotal: boolean
  private buf: Uint8Array = EMPTY
  private off = 0
  private pending: Array<Uint8Array> = []
  private pendingLength = 0
  private failed: Result.Result<never, TeltonikaCodecError> | undefined = undefined

  constructor(options?: TcpDecodeOptions) {
    this.maxFrameSize = options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.strictIoTotal = options?.strictIoTotal === true
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.buf.length - this.off + this.pendingLength
  }

  push(chunk: Uint8Array): void {
    if (this.failed !== undefined || chunk.length === 0) return
    if (this.off === this.buf.length && this.pendingLength === 0) {
      this.buf = chunk
      this.off = 0
    } else {
      this.pending.push(chunk)
      this.pendingLength += chunk.length
    }
  }

  /** The next complete frame, `undefined` when more bytes are needed, or the (sticky) failure. */
  next(expect: TcpExpect): Result.Result<TcpFrame, TeltonikaCodecError> | undefined {
    if (this.failed !== undefined) return this.failed
    try {
      for (;;) {
        const avail = this.buf.length - this.off
        const size = frameSize(this.buf, this.off, avail, expect, this.maxFrameSize)
        if (size <= avail) {
          const frame = decodeFrame(this.buf, this.off, size, this.strictIoTotal)
          this.off += size
          if (this.off === this.buf.length && this.pendingLength === 0) {
            this.buf = EMPTY
            this.off = 0
          }
          return Result.succeed(frame)
        }
        if (size > avail + this.pendingLength) return undefined
        this.join()
      }
    } catch (e) {
      const failed = failure(e)
      this.failed = failed
      this.buf = EMPTY
      this.off = 0
      this.pending = []
      this.pendingLength = 0
      return failed
    }
  }

  private join(): void {
    const rest = this.buf.length - this.off
    const joined = new Uint8Array(rest + this.pendingLength)
    joined.set(this.buf.subarray(this.off), 0)
    let p = rest
    for (const c of this.pending) {
      joined.set(c, p)
      p += c.length
    }
    this.buf = joined
    this.off = 0
    this.pending = []
    this.pendingLength = 0
  }
}

/**
 * Decodes exactly one frame that must fill `bytes`: too few bytes is `Incomplete`, trailing bytes are
 * `LengthMismatch`.
 */
export const decodeTcpFrame = (
  bytes: Uint8Array,
  expect: TcpExpect = "any",
  options?: TcpDecodeOptions,
): Result.Result<TcpFrame, TeltonikaCodecError> => {
  try {
    const size = frameSize(bytes, 0, bytes.length, expect, options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE)
    if (size > bytes.length) throw new Incomplete({ needed: size, available: bytes.length })
    if (size < bytes.length) throw new LengthMismatch({ field: "TCP frame", declared: size, actual: bytes.length })
    return Result.succeed(decodeFrame(bytes, 0, size, options?.strictIoTotal === true))
  } catch (e) {
    return failure(e)
  }
}

/**
 * Decodes a captured byte stream of consecutive frames. After an IMEI frame the expectation becomes
 * "data", as a device's session does; a trailing partial frame is `Incomplete`.
 */
export const decodeTcpStream = (
  bytes: Uint8Array,
  expect: TcpExpect = "any",
  options?: TcpDecodeOptions,
): Result.Result<Array<TcpFrame>, TeltonikaCodecError> => {
  const max = options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
  const strict = options?.strictIoTotal === true
  const frames: Array<TcpFrame> = []
  let mode = expect
  let off = 0
  try {
    while (off < bytes.length) {
      const avail = bytes.length - off
      const size = frameSize(bytes, off, avail, mode, max)
      if (size > avail) throw new Incomplete({ needed: size, available: avail })
      const frame = decodeFrame(bytes, off, size, strict)
      frames.push(frame)
      off += size
      if (frame._tag === "Imei" && mode === "login") mode = "data"
    }
    return Result.succeed(frames)
  } catch (e) {
    return failure(e)
  }
}

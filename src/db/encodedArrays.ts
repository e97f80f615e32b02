import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Result } from "effect"

/**
 * Array parameters built in PostgreSQL's binary array format (what `array_recv` reads) by the
 * caller, for a pool whose registry (`encodedArraysRegistry`) sends them as they are.
 *
 * Why: the Writer encodes a batch as soon as it is decoded instead of when a connection takes it,
 * so what waits in flight is these bytes, outside V8's heap, and not a Position object per record
 * with the payload strings its fields were cut from (a heap snapshot mid-drain found four batches
 * of those live, all in the old generation). Without them the bench's 100k-device case peaks ~7 MB lower at the
 * same growth cap (186–189 against 193–197 MB at HEAP_GROWTH_PERCENT=70). The bytes are what the
 * driver's own codec makes of the same values (test/writer/encodedChunk.test.ts compares them).
 */
export class EncodedArray {
  readonly elementOid: number
  readonly bytes: Uint8Array
  constructor(elementOid: number, bytes: Uint8Array) {
    this.elementOid = elementOid
    this.bytes = bytes
  }
}

const ARRAY_HEADER_BYTES = 20
const FLOAT8_ELEMENT_BYTES = 12

/** For `utf8Write`: Buffer's own UTF-8 encoder without `write`'s argument juggling. */
interface Utf8Write {
  utf8Write(text: string, offset: number, length: number): number
}

/** Up to this many UTF-16 units a string is copied by a loop when it is all ASCII, which is
 * cheaper than a call into the runtime; longer ones go to Buffer's encoder. */
const ASCII_LOOP_LIMIT = 32

/** Up to this many bytes an element is copied by a loop, which is cheaper than `set` and the view
 * it needs. */
const BYTE_LOOP_LIMIT = 64

/**
 * Writes one-dimensional arrays without nulls back to back into one buffer, which grows as needed.
 * `begin` an array with its element OID and length, write exactly that many elements, `end` it;
 * `finish` answers the arrays written, in order.
 */
export class BinaryArrayWriter {
  private buffer: Buffer
  private view: DataView
  private at = 0
  /** Element OID, start and end of each array written. */
  private readonly bounds: Array<number> = []
  private arrayStart = 0
  private arrayOid = 0
  private remaining = 0

  /** `expectedBytes`: the writer's first size, best the total it will hold (it grows otherwise).
   * A small one (a chunk of a few rows, at low load) is cut from Node's shared buffer pool: its own
   * backing store cost ~4 µs a chunk. */
  constructor(expectedBytes: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, expectedBytes))
    this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length)
  }

  private ensure(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buffer.length * 2, this.at + bytes))
    this.buffer.copy(grown, 0, 0, this.at)
    this.buffer = grown
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length)
  }

  begin(elementOid: number, length: number): void {
    if (this.remaining !== 0) throw new Error("BinaryArrayWriter: the previous array is not complete")
    this.ensure(ARRAY_HEADER_BYTES)
    const view = this.view
    const at = this.at
    this.arrayStart = at
    this.arrayOid = elementOid
    this.remaining = length
    // An empty array has no dimensions; PostgreSQL reads it as '{}'.
    view.setInt32(at, length === 0 ? 0 : 1)
    view.setInt32(at + 4, 0) // no nulls
    view.setInt32(at + 8, elementOid)
    if (length === 0) {
      this.at = at + 12
      return
    }
    view.setInt32(at + 12, length)
    view.setInt32(at + 16, 1) // lower bound
    this.at = at + ARRAY_HEADER_BYTES
  }

  float8(value: number): void {
    this.ensure(FLOAT8_ELEMENT_BYTES)
    this.view.setInt32(this.at, 8)
    this.view.setFloat64(this.at + 4, value)
    this.at += FLOAT8_ELEMENT_BYTES
    this.remaining--
  }

  /** A text element, UTF-8 encoded (a lone surrogate becomes U+FFFD, as the driver's encoder does). */
  text(value: string): void {
    const length = value.length
    // UTF-8 takes at most three bytes per UTF-16 unit.
    this.ensure(4 + length * 3)
    const buffer = this.buffer
    const start = this.at + 4
    let written = -1
    if (length <= ASCII_LOOP_LIMIT) {
      let i = 0
      for (; i < length; i++) {
        const code = value.charCodeAt(i)
        if (code > 0x7f) break
        buffer[start + i] = code
      }
      if (i === length) written = length
    }
    if (written === -1) written = (buffer as unknown as Utf8Write).utf8Write(value, start, buffer.length - start)
    this.view.setInt32(this.at, written)
    this.at = start + written
    this.remaining--
  }

  /** A text element whose UTF-8 bytes are source[start, end). */
  bytes(source: Uint8Array, start: number, end: number): void {
    const length = end - start
    this.ensure(4 + length)
    this.view.setInt32(this.at, length)
    const buffer = this.buffer
    let at = this.at + 4
    if (length <= BYTE_LOOP_LIMIT) {
      for (let i = start; i < end; i++) buffer[at++] = source[i] as number
    } else {
      buffer.set(source.subarray(start, end), at)
      at += length
    }
    this.at = at
    this.remaining--
  }

  end(): void {
    if (this.remaining !== 0) throw new Error(`BinaryArrayWriter: ${this.remaining} element(s) missing`)
    this.bounds.push(this.arrayOid, this.arrayStart, this.at)
  }

  /** The arrays written, each a view of the one buffer. */
  finish(): Array<EncodedArray> {
    const arrays: Array<EncodedArray> = []
    const b = this.bounds
    for (let i = 0; i < b.length; i += 3) {
      arrays.push(new EncodedArray(b[i] as number, this.buffer.subarray(b[i + 1] as number, b[i + 2] as number)))
    }
    return arrays
  }
}

/** Reads back, element by element, an array BinaryArrayWriter wrote (one dimension, no nulls). */
export class BinaryArrayReader {
  private readonly view: DataView
  private readonly bytes: Uint8Array
  private at: number

  constructor(array: EncodedArray) {
    this.bytes = array.bytes
    this.view = new DataView(array.bytes.buffer, array.bytes.byteOffset, array.bytes.length)
    this.at = this.view.getInt32(0) === 0 ? 12 : ARRAY_HEADER_BYTES
  }

  float8(): number {
    const value = this.view.getFloat64(this.at + 4)
    this.at += FLOAT8_ELEMENT_BYTES
    return value
  }

  text(): string {
    const size = this.view.getInt32(this.at)
    const start = this.at + 4
    this.at = start + size
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, size).toString("utf8")
  }
}

/** A parameter of the array type of `array`'s elements, its bytes sent as they are. */
export const encodedParameter = (array: EncodedArray): PgTypes.Parameter => {
  const parameter = PgTypes.array(null, array.elementOid)
  // Only an unknown element OID fails here, and the callers pass built-in ones: a programming error.
  if (Result.isFailure(parameter)) throw parameter.failure
  return { ...parameter.success, value: array }
}

/** Sends an EncodedArray as it is, anything else through the driver's own codec for `arrayOid`. */
const passThrough = (arrayOid: number, elementOid: number): PgTypes.Codec<unknown> => ({
  encode: (value) => (value instanceof EncodedArray ? Result.succeed(value.bytes) : PgTypes.encode(value, arrayOid)),
  decode: (bytes) => PgTypes.decode(bytes, arrayOid, 1),
  write: (sink, value) => {
    if (value instanceof EncodedArray) {
      sink.raw(value.bytes)
      return Result.void
    }
    const parameter = PgTypes.array(value as ReadonlyArray<unknown>, elementOid)
    return Result.isFailure(parameter)
      ? Result.fail(parameter.failure)
      : PgTypes.writeParameter(sink, parameter.success)
  },
})

/** A registry with the driver's codecs, in which text[] and float8[] parameters may also be
 * EncodedArrays. */
export const encodedArraysRegistry = (): PgTypes.Registry => {
  const registry = PgTypes.makeRegistry()
  registry.register(PgTypes.OID.textArray, passThrough(PgTypes.OID.textArray, PgTypes.OID.text))
  registry.register(PgTypes.OID.float8Array, passThrough(PgTypes.OID.float8Array, PgTypes.OID.float8))
  return registry
}

import * as R from "./resp.ts"

/**
 * A RESP2/RESP3 reply kept as its bytes and a flat index of its elements (a "tape"), instead of as
 * JS values: no string per bulk string, no array per aggregate.
 *
 * Why: the processor reads 1,000 stream entries at a time, each ~400 bytes of reply in eight bulk
 * strings. Turned into strings, then scanned, then copied again into PostgreSQL's parameters, those
 * strings were most of what the processor allocated and most of what V8 promoted while draining.
 * The stream commands that ask for a tape (TapeCommand, installTextReplies.ts) get this instead,
 * and the decoder reads the payloads straight from `bytes`.
 *
 * Elements are in reply order, an aggregate before its items. Each has a kind and two numbers:
 * - STRING (blob, simple, verbatim without its `txt:` prefix, double, big number): its byte range;
 * - ERROR (inside an aggregate; a top-level error is an error reply, not a tape): its byte range;
 * - INTEGER: the byte range of its digits (with the sign);
 * - BOOLEAN: 1 or 0;
 * - NULL;
 * - ARRAY (array, set, map as key, value, …, push): its item count, and the index of the element
 *   after everything it holds (`next`).
 */
export const STRING = 1
export const ERROR = 2
export const INTEGER = 3
export const BOOLEAN = 4
export const NULL = 5
export const ARRAY = 6

const CELL = 3

export class RespTape {
  /** Elements in the tape. */
  readonly length: number
  private replyBytes: Buffer
  private cells: Int32Array<ArrayBuffer>
  /** Where the buffers go back when released; the reply's own buffer, when it is not a view of a
   * socket chunk. */
  private readonly spares: TapeBuffers | undefined
  private readonly ownBuffer: Buffer | undefined
  private released = false
  private scratchArea: TapeScratch | undefined

  constructor(bytes: Buffer, cells: Int32Array<ArrayBuffer>, length: number, spares?: TapeBuffers, ownBuffer?: Buffer) {
    this.replyBytes = bytes
    this.cells = cells
    this.length = length
    this.spares = spares
    this.ownBuffer = ownBuffer
  }

  /** The reply's bytes. Reading them after `release` is a bug, and throws rather than read bytes
   * that may by then hold another reply. */
  get bytes(): Buffer {
    this.checkUnreleased()
    return this.replyBytes
  }

  /** Typed arrays for what is derived from the reply (an EntryBlock's ranges, a PositionBatch's
   * columns), which go back with the tape's own buffers: whatever holds them is as done with them
   * at `release` as with the reply. */
  get scratch(): TapeScratch {
    this.checkUnreleased()
    this.scratchArea ??= new TapeScratch(this.spares?.scratch())
    return this.scratchArea
  }

  /** Throws once released: for readers of elements, which would read as nothing. */
  checkUnreleased(): void {
    if (this.released) throw new Error("RespTape: read after release")
  }

  /**
   * Gives the tape's buffers back to its connection for a later reply: the caller is done with
   * every byte and element of it (the processor, once a batch is encoded). Afterwards reading
   * `bytes` throws, and the elements read as nothing. Optional: a tape never released is collected
   * as any garbage.
   */
  release(): void {
    if (this.released) return
    this.released = true
    this.spares?.give(this.ownBuffer, this.cells, this.scratchArea)
    this.replyBytes = EMPTY
    this.cells = NO_CELLS
  }

  kind(element: number): number {
    return this.cells[element * CELL] as number
  }

  /** STRING, ERROR, INTEGER: where its bytes start. ARRAY: its item count. BOOLEAN: 1 or 0. */
  first(element: number): number {
    return this.cells[element * CELL + 1] as number
  }

  /** STRING, ERROR, INTEGER: where its bytes end. */
  last(element: number): number {
    return this.cells[element * CELL + 2] as number
  }

  /** The element after this one and everything it holds. */
  next(element: number): number {
    return this.kind(element) === ARRAY ? (this.cells[element * CELL + 2] as number) : element + 1
  }

  /** A STRING's or an ERROR's text. */
  text(element: number): string {
    return R.text(this.bytes, this.first(element), this.last(element))
  }

  /** The element as the JS value TextReplyDecoder would have given (an error as an Error): for the
   * rare paths and for messages, not for the hot one. */
  value(element: number): unknown {
    switch (this.kind(element)) {
      case STRING:
        return this.text(element)
      case ERROR:
        return new Error(this.text(element))
      case INTEGER:
        return this.integer(element)
      case BOOLEAN:
        return this.first(element)
      case ARRAY: {
        const items: Array<unknown> = []
        const end = this.next(element)
        for (let item = element + 1; item < end; item = this.next(item)) items.push(this.value(item))
        return items
      }
      default:
        return null
    }
  }

  /** An INTEGER's value (ioredis's arithmetic: the same double beyond 2^53). */
  integer(element: number): number {
    const bytes = this.bytes
    let at = this.first(element)
    const end = this.last(element)
    const negative = bytes[at] === R.MINUS
    if (negative || bytes[at] === R.PLUS) at++
    let value = 0
    for (; at < end; at++) value = value * 10 + (bytes[at] as number) - R.DIGIT_0
    return negative ? -value : value
  }
}

/** A reply's bytes held while it arrives start at this size, or at the connection's last reply's. */
const MIN_HELD_BYTES = 16 * 1024
/** Scratch for a small reply's derived arrays; a connection's starts at its last reply's need. */
const MIN_SCRATCH_BYTES = 4 * 1024
/** The index starts with room for this many elements, or for as many as the connection's last reply had. */
const MIN_ELEMENTS = 64

/**
 * A connection's buffers for its tape replies, reused: a read's reply bytes and element index, given
 * back (RespTape.release) once its batch is done, hold a later read's. Why: a 1,000-entry read is
 * ~420 KB of reply and ~120 KB of index outside V8's heap. Allocated per read, they doubled what the
 * processor allocated outside the heap, and what malloc then kept (the bench's 100k-device case
 * rose from ~185 to ~199 MB, and a 300k drain ran 28 full collections instead of 8 and spent ~3 µs
 * more processor CPU per row).
 * One spare of each is enough: a connection's reads come one at a time.
 */
export class TapeBuffers {
  private spareBytes: Buffer | undefined
  private spareCells: Int32Array<ArrayBuffer> | undefined
  private spareScratch: ArrayBuffer | undefined
  /** The last reply's sizes: new buffers start there. */
  lastBytes = 0
  lastElements = 0
  lastScratch = 0

  /** A buffer of at least `size` bytes. */
  bytes(size: number): Buffer {
    const spare = this.spareBytes
    if (spare !== undefined && spare.length >= size) {
      this.spareBytes = undefined
      return spare
    }
    return Buffer.allocUnsafe(Math.max(size, this.lastBytes))
  }

  /** An index of room for at least `elements` elements. */
  cells(elements: number): Int32Array<ArrayBuffer> {
    const spare = this.spareCells
    if (spare !== undefined && spare.length >= elements * CELL) {
      this.spareCells = undefined
      return spare
    }
    return new Int32Array(Math.max(elements, this.lastElements) * CELL)
  }

  /** A scratch buffer as large as the last reply needed. */
  scratch(): ArrayBuffer {
    const spare = this.spareScratch
    if (spare !== undefined && spare.byteLength >= this.lastScratch) {
      this.spareScratch = undefined
      return spare
    }
    return new ArrayBuffer(Math.max(MIN_SCRATCH_BYTES, this.lastScratch))
  }

  give(bytes: Buffer | undefined, cells: Int32Array<ArrayBuffer>, scratch: TapeScratch | undefined): void {
    if (scratch !== undefined) {
      this.lastScratch = scratch.needed
      const buffer = scratch.buffer
      if (
        buffer !== undefined &&
        (this.spareScratch === undefined || buffer.byteLength > this.spareScratch.byteLength)
      ) {
        this.spareScratch = buffer
      }
    }
    if (bytes !== undefined && (this.spareBytes === undefined || bytes.length > this.spareBytes.length)) {
      this.spareBytes = bytes
    }
    if (cells !== NO_CELLS && (this.spareCells === undefined || cells.length > this.spareCells.length)) {
      this.spareCells = cells
    }
  }
}

/**
 * Typed arrays carved one after the other from one buffer (a tape's, reused with it), or allocated
 * on their own when it is full (`needed` then tells the next one how large to be) or when there is
 * none (a tape of no connection's). Their contents are not cleared: every user writes what it reads.
 */
export class TapeScratch {
  readonly buffer: ArrayBuffer | undefined
  private used = 0
  /** Bytes the arrays asked for so far, whether they fit or not. */
  needed = 0

  constructor(buffer: ArrayBuffer | undefined) {
    this.buffer = buffer
  }

  int32(length: number): Int32Array<ArrayBuffer> {
    const at = this.take(length * 4, 4)
    return at < 0 || this.buffer === undefined ? new Int32Array(length) : new Int32Array(this.buffer, at, length)
  }

  float64(length: number): Float64Array<ArrayBuffer> {
    const at = this.take(length * 8, 8)
    return at < 0 || this.buffer === undefined ? new Float64Array(length) : new Float64Array(this.buffer, at, length)
  }

  uint8(length: number): Uint8Array<ArrayBuffer> {
    const at = this.take(length, 1)
    return at < 0 || this.buffer === undefined ? new Uint8Array(length) : new Uint8Array(this.buffer, at, length)
  }

  /** Where `bytes` aligned to `align` start in the buffer, or -1 when they do not fit. */
  private take(bytes: number, align: number): number {
    this.needed = Math.ceil(this.needed / align) * align + bytes
    const at = Math.ceil(this.used / align) * align
    if (this.buffer === undefined || at + bytes > this.buffer.byteLength) return -1
    this.used = at + bytes
    return at
  }
}

/**
 * Builds one RespTape from the bytes of a reply as they arrive: `feed` each chunk until it answers
 * how many bytes of the chunk come after the reply, then `finish`.
 *
 * The element offsets are counted from the reply's first byte. A reply that arrives in one chunk
 * is kept as a view of that chunk; one that arrives in several is copied into one buffer (from the
 * connection's TapeBuffers, which also gives the index) that grows by doubling past the
 * connection's last reply size.
 */
export class TapeWriter {
  private bytes: Buffer = EMPTY
  private length = 0
  /** Whether `bytes` is a buffer of our own (else a view of the first chunk). */
  private owned = false
  /** Where the next element starts. */
  private at = 0
  /** Where the reply ends, once it is complete. */
  private end = -1
  private cells: Int32Array<ArrayBuffer>
  private count = 0
  private readonly spares: TapeBuffers | undefined
  /** The open aggregates: their elements and how many items each still needs. */
  private openElements = new Int32Array(8)
  private openNeeds = new Int32Array(8)
  private depth = 0

  constructor(spares?: TapeBuffers) {
    this.spares = spares
    this.cells = spares?.cells(MIN_ELEMENTS) ?? new Int32Array(MIN_ELEMENTS * CELL)
  }

  /** Takes the next chunk of the reply; answers -1 while the reply is incomplete, then how many
   * bytes at the end of `chunk` are not part of it (the next replies'). */
  feed(chunk: Buffer): number {
    if (this.length === 0) {
      this.bytes = chunk
      this.length = chunk.length
    } else {
      this.append(chunk)
    }
    if (!this.parse()) return -1
    return this.length - this.end
  }

  /** The reply, once `feed` answered it complete. */
  finish(): RespTape {
    if (this.spares !== undefined) {
      this.spares.lastBytes = this.end
      this.spares.lastElements = this.count
    }
    const own = this.owned ? this.bytes : undefined
    return new RespTape(this.bytes.subarray(0, this.end), this.cells, this.count, this.spares, own)
  }

  private append(chunk: Buffer): void {
    const needed = this.length + chunk.length
    if (!this.owned || needed > this.bytes.length) {
      const size = Math.max(needed, this.owned ? this.bytes.length * 2 : MIN_HELD_BYTES)
      const grown = this.owned || this.spares === undefined ? Buffer.allocUnsafe(size) : this.spares.bytes(size)
      this.bytes.copy(grown, 0, 0, this.length)
      this.bytes = grown
      this.owned = true
    }
    chunk.copy(this.bytes, this.length)
    this.length = needed
  }

  /** Reads elements from `at` on; true once the reply is complete. */
  private parse(): boolean {
    const bytes = this.bytes
    const length = this.length
    while (this.at < length) {
      const at = this.at
      const cr = R.lineEnd(bytes, at + 1, length)
      if (cr === -1) return false
      const next = cr + 2
      const type = bytes[at]
      switch (type) {
        case R.BLOB_STRING:
        case R.VERBATIM_STRING:
        case R.BLOB_ERROR: {
          if (bytes[at + 1] === R.MINUS) {
            this.cell(NULL, 0, 0)
            this.at = next
            break
          }
          const end = next + R.digits(bytes, at + 1, cr)
          if (end + 2 > length) return false
          this.cell(type === R.BLOB_ERROR ? ERROR : STRING, type === R.VERBATIM_STRING ? next + 4 : next, end)
          this.at = end + 2
          break
        }
        case R.ARRAY:
        case R.SET:
        case R.MAP:
        case R.PUSH: {
          this.at = next
          if (bytes[at + 1] === R.MINUS) {
            this.cell(NULL, 0, 0)
            break
          }
          const items = R.digits(bytes, at + 1, cr) * (type === R.MAP ? 2 : 1)
          const element = this.count
          this.cell(ARRAY, items, element + 1)
          if (items === 0) break
          this.open(element, items)
          continue
        }
        case R.SIMPLE_STRING:
        case R.DOUBLE:
        case R.BIG_NUMBER:
          this.cell(STRING, at + 1, cr)
          this.at = next
          break
        case R.NUMBER:
          R.digits(bytes, bytes[at + 1] === R.MINUS || bytes[at + 1] === R.PLUS ? at + 2 : at + 1, cr)
          this.cell(INTEGER, at + 1, cr)
          this.at = next
          break
        case R.SIMPLE_ERROR:
          this.cell(ERROR, at + 1, cr)
          this.at = next
          break
        case R.BOOLEAN:
          this.cell(BOOLEAN, bytes[at + 1] === R.LOWER_T ? 1 : 0, 0)
          this.at = next
          break
        case R.NULL:
          this.cell(NULL, 0, 0)
          this.at = next
          break
        default:
          throw new Error(`Unknown RESP type ${type} "${String.fromCharCode(type ?? 0)}"`)
      }
      if (this.completed()) {
        this.end = this.at
        return true
      }
    }
    return false
  }

  /** An element is complete: counts it against the open aggregates, closing each it fills; true
   * when that completes the reply. */
  private completed(): boolean {
    while (this.depth > 0) {
      const top = this.depth - 1
      const needs = (this.openNeeds[top] as number) - 1
      if (needs > 0) {
        this.openNeeds[top] = needs
        return false
      }
      this.cells[(this.openElements[top] as number) * CELL + 2] = this.count
      this.depth = top
    }
    return true
  }

  private open(element: number, items: number): void {
    if (this.depth === this.openElements.length) {
      this.openElements = grow(this.openElements)
      this.openNeeds = grow(this.openNeeds)
    }
    this.openElements[this.depth] = element
    this.openNeeds[this.depth] = items
    this.depth++
  }

  private cell(kind: number, first: number, last: number): void {
    let at = this.count * CELL
    if (at === this.cells.length) this.cells = grow(this.cells)
    const cells = this.cells
    cells[at++] = kind
    cells[at++] = first
    cells[at] = last
    this.count++
  }
}

const grow = (array: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
  const grown = new Int32Array(array.length * 2)
  grown.set(array)
  return grown
}

const EMPTY = Buffer.alloc(0)
const NO_CELLS = new Int32Array(0)

import { ARRAY, NULL, type RespTape, STRING, type TapeScratch, TapeWriter } from "../redis/RespTape.ts"

/** An entry as JS values: its id and flat field/value list, null when it was deleted while pending
 * (XREADGROUP of pending entries answers such an entry without fields). */
export interface ReadEntry {
  readonly id: string
  readonly fields: ReadonlyArray<string> | null
}

/** Reply shapes of the stream commands, checked rather than cast: a reply Redis changes between
 * versions shows up as a clear error here instead of as `undefined` deep in the pipeline. */
export class UnexpectedReply extends Error {
  constructor(command: string, reply: unknown) {
    super(`unexpected ${command} reply: ${JSON.stringify(reply)?.slice(0, 200)}`)
  }
}

const PAYLOAD = Buffer.from("payload")
const RECEIVED_AT = Buffer.from("received_at")

const NONE = -1

const EMPTY_BYTES = Buffer.alloc(0)

/**
 * The entries of one read (XREADGROUP, XAUTOCLAIM) as the reply's tape: each entry's id as a string
 * (acknowledgements, delivery counts and dead letters go by id), its `payload` and `received_at`
 * values as byte ranges of `bytes`, which the decoder scans in place. `entry(i)` gives an entry as
 * strings, for the rare paths that need them (dead letters).
 */
export class EntryBlock {
  readonly ids: Array<string>
  /** Byte range of each entry's `payload` value (its first), NONE when it has none. */
  readonly payloadStart: Int32Array
  readonly payloadEnd: Int32Array
  /** Byte range of each entry's `received_at` value (its first), NONE when it has none. */
  readonly receivedAtStart: Int32Array
  readonly receivedAtEnd: Int32Array
  private readonly tape: RespTape | undefined
  /** Each entry's field list element in the tape, NONE for an entry deleted while pending. */
  private readonly fieldsAt: Int32Array

  private constructor(tape: RespTape | undefined, count: number) {
    this.tape = tape
    this.ids = new Array(count)
    // From the reply's scratch: the ranges go back with the reply's buffers.
    const scratch = tape?.scratch
    this.payloadStart = scratch?.int32(count) ?? new Int32Array(count)
    this.payloadEnd = scratch?.int32(count) ?? new Int32Array(count)
    this.receivedAtStart = scratch?.int32(count) ?? new Int32Array(count)
    this.receivedAtEnd = scratch?.int32(count) ?? new Int32Array(count)
    this.fieldsAt = scratch?.int32(count) ?? new Int32Array(count)
  }

  static readonly empty = new EntryBlock(undefined, 0)

  /**
   * The entries of the stream-entries array at `element` of `tape`: each `[id, [field, value, …]]`,
   * or `[id, null]` for one deleted while pending. Anything else is an UnexpectedReply.
   */
  static fromTape(command: string, tape: RespTape, element: number): EntryBlock {
    if (tape.kind(element) !== ARRAY) throw new UnexpectedReply(command, tape.value(element))
    const block = new EntryBlock(tape, tape.first(element))
    const bytes = tape.bytes
    let item = element + 1
    for (let i = 0; i < block.ids.length; i++) {
      // [id, fields]
      const id = item + 1
      if (tape.kind(item) !== ARRAY || tape.first(item) !== 2 || tape.kind(id) !== STRING) {
        throw new UnexpectedReply(command, tape.value(item))
      }
      block.ids[i] = tape.text(id)
      const fields = id + 1
      block.payloadStart[i] = NONE
      block.receivedAtStart[i] = NONE
      if (tape.kind(fields) === NULL) {
        block.fieldsAt[i] = NONE
      } else {
        // Field names and values, each a string (no aggregate inside, so they follow one another).
        if (tape.kind(fields) !== ARRAY || tape.first(fields) % 2 !== 0) {
          throw new UnexpectedReply(command, tape.value(item))
        }
        block.fieldsAt[i] = fields
        const end = tape.next(fields)
        for (let name = fields + 1; name < end; name += 2) {
          if (tape.kind(name) !== STRING || tape.kind(name + 1) !== STRING) {
            throw new UnexpectedReply(command, tape.value(item))
          }
          const start = tape.first(name)
          const length = tape.last(name) - start
          if (block.payloadStart[i] === NONE && isName(bytes, start, length, PAYLOAD)) {
            block.payloadStart[i] = tape.first(name + 1)
            block.payloadEnd[i] = tape.last(name + 1)
          } else if (block.receivedAtStart[i] === NONE && isName(bytes, start, length, RECEIVED_AT)) {
            block.receivedAtStart[i] = tape.first(name + 1)
            block.receivedAtEnd[i] = tape.last(name + 1)
          }
        }
      }
      item = tape.next(item)
    }
    return block
  }

  /** A block of these entries, as Redis would send them (tools and tests: the decoder's path for
   * entries that were not read from Redis). */
  static of(entries: ReadonlyArray<ReadEntry>): EntryBlock {
    const parts: Array<string> = [`*${entries.length}\r\n`]
    const bulk = (text: string) => parts.push(`$${Buffer.byteLength(text)}\r\n`, text, "\r\n")
    for (const { id, fields } of entries) {
      parts.push("*2\r\n")
      bulk(id)
      if (fields === null) parts.push("_\r\n")
      else {
        parts.push(`*${fields.length}\r\n`)
        for (const field of fields) bulk(field)
      }
    }
    const writer = new TapeWriter()
    if (writer.feed(Buffer.from(parts.join(""))) !== 0) throw new Error("EntryBlock.of: incomplete reply")
    return EntryBlock.fromTape("entries", writer.finish(), 0)
  }

  get length(): number {
    return this.ids.length
  }

  /** Typed arrays that go back with the reply's buffers (RespTape.scratch). */
  get scratch(): TapeScratch | undefined {
    return this.tape?.scratch
  }

  /** The reply's bytes, which the ranges above index; reading them after `release` throws. */
  get bytes(): Buffer {
    return this.tape?.bytes ?? EMPTY_BYTES
  }

  /** Gives the reply's buffers back for a later read (RespTape.release): once the block's entries
   * are decoded and encoded, and nothing reads the block again. */
  release(): void {
    this.tape?.release()
  }

  isDeleted(i: number): boolean {
    return this.fieldsAt[i] === NONE
  }

  /** Entry `i` as strings: its fields exactly as stored (dead letters keep every field unchanged). */
  entry(i: number): ReadEntry {
    const id = this.ids[i] as string
    const fieldsAt = this.fieldsAt[i] as number
    const tape = this.tape
    if (fieldsAt === NONE || tape === undefined) return { id, fields: null }
    tape.checkUnreleased()
    const fields: Array<string> = []
    const end = tape.next(fieldsAt)
    for (let field = fieldsAt + 1; field < end; field++) fields.push(tape.text(field))
    return { id, fields }
  }

  entries(): Array<ReadEntry> {
    return this.ids.map((_, i) => this.entry(i))
  }
}

const isName = (bytes: Buffer, start: number, length: number, name: Buffer): boolean => {
  if (length !== name.length) return false
  for (let i = 0; i < length; i++) if (bytes[start + i] !== name[i]) return false
  return true
}

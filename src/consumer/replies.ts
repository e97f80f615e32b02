import { ARRAY, NULL, type RespTape, STRING } from "../redis/RespTape.ts"
import { EntryBlock, type ReadEntry, UnexpectedReply } from "./EntryBlock.ts"

export { EntryBlock, type ReadEntry, UnexpectedReply }

const isStringArray = (v: unknown): v is Array<string> => Array.isArray(v) && v.every((x) => typeof x === "string")

/** Entries as strings (XRANGE; the reads come as an EntryBlock). */
export const parseEntries = (command: string, reply: unknown): Array<ReadEntry> => {
  if (!Array.isArray(reply)) throw new UnexpectedReply(command, reply)
  const entries: Array<ReadEntry> = new Array(reply.length)
  for (let i = 0; i < reply.length; i++) {
    const item: unknown = reply[i]
    if (!Array.isArray(item) || typeof item[0] !== "string") throw new UnexpectedReply(command, item)
    const fields: unknown = item[1]
    if (fields !== null && !isStringArray(fields)) throw new UnexpectedReply(command, item)
    entries[i] = { id: item[0], fields }
  }
  return entries
}

/** XREADGROUP on one stream: null on timeout; otherwise the stream → entries map, which arrives
 * flat (`[stream, entries]`, RESP3 maps) or nested (`[[stream, entries]]`, RESP2). */
export const parseReadGroup = (tape: RespTape): EntryBlock => {
  if (tape.kind(0) === NULL) return EntryBlock.empty
  if (tape.kind(0) === ARRAY) {
    if (tape.first(0) === 2 && tape.kind(1) === STRING) return EntryBlock.fromTape("XREADGROUP", tape, 2)
    if (tape.first(0) === 1 && tape.kind(1) === ARRAY && tape.first(1) === 2 && tape.kind(2) === STRING) {
      return EntryBlock.fromTape("XREADGROUP", tape, 3)
    }
  }
  throw new UnexpectedReply("XREADGROUP", tape.value(0))
}

export interface AutoClaimReply {
  readonly next: string
  readonly entries: EntryBlock
  /** Ids that were pending but are no longer in the stream (Redis 7+). */
  readonly deleted: Array<string>
}

/** XAUTOCLAIM: `[next, entries, deleted ids]` (no third item before Redis 7). */
export const parseAutoClaim = (tape: RespTape): AutoClaimReply => {
  const items = tape.kind(0) === ARRAY ? tape.first(0) : 0
  if (items < 2 || items > 3 || tape.kind(1) !== STRING) throw new UnexpectedReply("XAUTOCLAIM", tape.value(0))
  const entries = EntryBlock.fromTape("XAUTOCLAIM", tape, 2)
  const deleted: Array<string> = []
  if (items === 3) {
    const list = tape.next(2)
    if (tape.kind(list) !== ARRAY) throw new UnexpectedReply("XAUTOCLAIM", tape.value(0))
    for (let id = list + 1; id < tape.next(list); id++) {
      if (tape.kind(id) !== STRING) throw new UnexpectedReply("XAUTOCLAIM", tape.value(0))
      deleted.push(tape.text(id))
    }
  }
  return { next: tape.text(1), entries, deleted }
}

/** Flat [key, value, key, value] replies (XINFO) as a record. */
export const parseFlatMap = (command: string, reply: unknown): Record<string, unknown> => {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw new UnexpectedReply(command, reply)
  const out: Record<string, unknown> = {}
  for (let i = 0; i < reply.length; i += 2) out[String(reply[i])] = reply[i + 1]
  return out
}

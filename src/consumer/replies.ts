import type { StreamEntry } from "../domain/StreamEntry.ts"

/** Reply shapes of the stream commands, checked rather than cast: a reply Redis changes between
 * versions shows up as a clear error here instead of as `undefined` deep in the pipeline. */

export class UnexpectedReply extends Error {
  constructor(command: string, reply: unknown) {
    super(`unexpected ${command} reply: ${JSON.stringify(reply)?.slice(0, 200)}`)
  }
}

const isStringArray = (v: unknown): v is Array<string> => Array.isArray(v) && v.every((x) => typeof x === "string")

/** A pending entry that was deleted from the stream comes back with no fields. */
export interface ReadEntry {
  readonly id: string
  readonly fields: ReadonlyArray<string> | null
}

/**
 * Checks that `fields` are all strings, and puts one shared string in place of each field name
 * every entry carries (SPEC §3.1). The reply holds a fresh copy of each name per entry, which every
 * batch in flight would keep (and V8 copy from one generation to the next); the shared one also
 * makes `fieldValue`'s comparisons a pointer check.
 */
const isStringArrayWithSharedNames = (fields: unknown): fields is Array<string> => {
  if (!Array.isArray(fields)) return false
  for (let i = 0; i < fields.length; i++) {
    const field: unknown = fields[i]
    if (typeof field !== "string") return false
    if (i % 2 === 1) continue
    if (field === "payload") fields[i] = "payload"
    else if (field === "received_at") fields[i] = "received_at"
    else if (field === "source") fields[i] = "source"
  }
  return true
}

export const parseEntries = (command: string, reply: unknown): Array<ReadEntry> => {
  if (!Array.isArray(reply)) throw new UnexpectedReply(command, reply)
  const entries: Array<ReadEntry> = new Array(reply.length)
  for (let i = 0; i < reply.length; i++) {
    const item: unknown = reply[i]
    if (!Array.isArray(item) || typeof item[0] !== "string") throw new UnexpectedReply(command, item)
    const fields: unknown = item[1]
    if (fields !== null && !isStringArrayWithSharedNames(fields)) throw new UnexpectedReply(command, item)
    entries[i] = { id: item[0], fields }
  }
  return entries
}

/** XREADGROUP on one stream: null on timeout; otherwise the stream → entries map, which arrives
 * flat (`[stream, entries]`, RESP3 maps) or nested (`[[stream, entries]]`, RESP2). */
export const parseReadGroup = (reply: unknown): Array<ReadEntry> => {
  if (reply === null) return []
  if (Array.isArray(reply) && typeof reply[0] === "string" && reply.length === 2) {
    return parseEntries("XREADGROUP", reply[1])
  }
  if (Array.isArray(reply) && reply.length === 1 && Array.isArray(reply[0])) {
    return parseEntries("XREADGROUP", (reply[0] as Array<unknown>)[1])
  }
  throw new UnexpectedReply("XREADGROUP", reply)
}

export interface AutoClaimReply {
  readonly next: string
  readonly entries: Array<ReadEntry>
  readonly deleted: Array<string>
}

export const parseAutoClaim = (reply: unknown): AutoClaimReply => {
  if (!Array.isArray(reply) || typeof reply[0] !== "string") throw new UnexpectedReply("XAUTOCLAIM", reply)
  const deleted: unknown = reply[2] ?? []
  if (!isStringArray(deleted)) throw new UnexpectedReply("XAUTOCLAIM", reply)
  return { next: reply[0], entries: parseEntries("XAUTOCLAIM", reply[1]), deleted }
}

/** Flat [key, value, key, value] replies (XINFO) as a record. */
export const parseFlatMap = (command: string, reply: unknown): Record<string, unknown> => {
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw new UnexpectedReply(command, reply)
  const out: Record<string, unknown> = {}
  for (let i = 0; i < reply.length; i += 2) out[String(reply[i])] = reply[i + 1]
  return out
}

export const withFields = (
  entries: ReadonlyArray<ReadEntry>,
): { present: Array<StreamEntry>; deleted: Array<string> } => {
  const present: Array<StreamEntry> = []
  const deleted: Array<string> = []
  for (const e of entries) {
    if (e.fields === null) deleted.push(e.id)
    // Its fields are present, so the entry is a StreamEntry as it is: no copy per entry.
    else present.push(e as StreamEntry)
  }
  return { present, deleted }
}

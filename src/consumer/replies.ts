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

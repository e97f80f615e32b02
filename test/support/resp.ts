import { type RespTape, TapeWriter } from "../../src/redis/RespTape.ts"

/** A JS value as Redis would send it: strings as bulk strings, numbers as integers, arrays as
 * arrays, null as RESP3's null (or RESP2's null array). */
export const respOf = (value: unknown, protocol: 2 | 3 = 3): string => {
  if (value === null) return protocol === 3 ? "_\r\n" : "*-1\r\n"
  if (typeof value === "number") return `:${value}\r\n`
  if (typeof value === "string") return `$${Buffer.byteLength(value)}\r\n${value}\r\n`
  if (Array.isArray(value)) return `*${value.length}\r\n${value.map((item) => respOf(item, protocol)).join("")}`
  throw new Error(`respOf: ${String(value)}`)
}

/** The tape of one reply given as wire text (or as a value, through respOf). */
export const tapeOf = (wire: string): RespTape => {
  const writer = new TapeWriter()
  const after = writer.feed(Buffer.from(wire))
  if (after !== 0) throw new Error(`tapeOf: ${after === -1 ? "incomplete reply" : "bytes after the reply"}`)
  return writer.finish()
}

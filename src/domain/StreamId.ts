/** Redis Stream ids (`<ms>-<seq>`), compared and stepped exactly with bigint arithmetic. */
export interface StreamId {
  readonly ms: bigint
  readonly seq: bigint
}

const MAX_SEQ = 18446744073709551615n

export const parseStreamId = (id: string): StreamId | undefined => {
  const match = /^(\d+)(?:-(\d+))?$/.exec(id)
  if (match === null) return undefined
  return { ms: BigInt(match[1] as string), seq: BigInt(match[2] ?? "0") }
}

export const formatStreamId = (id: StreamId): string => `${id.ms}-${id.seq}`

export const compareStreamIds = (a: string, b: string): number => {
  const x = parseStreamId(a)
  const y = parseStreamId(b)
  if (x === undefined || y === undefined) throw new Error(`not a stream id: ${x === undefined ? a : b}`)
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1
  if (x.seq !== y.seq) return x.seq < y.seq ? -1 : 1
  return 0
}

/** The greatest id below `id`: XGROUP CREATE/SETID at it delivers `id` and everything after. */
export const previousStreamId = (id: string): string => {
  const parsed = parseStreamId(id)
  if (parsed === undefined) throw new Error(`not a stream id: ${id}`)
  if (parsed.seq > 0n) return formatStreamId({ ms: parsed.ms, seq: parsed.seq - 1n })
  if (parsed.ms > 0n) return formatStreamId({ ms: parsed.ms - 1n, seq: MAX_SEQ })
  return "0-0"
}

/** The time part of a stream id: when Redis accepted the entry (for end-to-end latency). */
export const streamIdTimeMs = (id: string): number => {
  // Digit by digit, without cutting a string: it runs for every acknowledged record. Up to 15
  // digits the sum is exact; anything else gets Number's answer on the part before the dash.
  let ms = 0
  let i = 0
  for (; i < id.length && i <= 15; i++) {
    const c = id.charCodeAt(i)
    if (c >= 48 && c <= 57) ms = ms * 10 + (c - 48)
    else break
  }
  if (i > 0 && i <= 15 && (i === id.length || id.charCodeAt(i) === 45)) return ms
  const dash = id.indexOf("-")
  return Number(dash === -1 ? id : id.slice(0, dash))
}

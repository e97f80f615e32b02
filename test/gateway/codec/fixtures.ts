import { type AvlRecord, crc16 } from "../../../src/gateway/codec/index.ts"

export const IMEI = "356307042441013"

export const record = (overrides: Partial<AvlRecord> = {}): AvlRecord => ({
  timestampMs: 1_700_000_000_123,
  priority: 1,
  longitude: 252_560_283,
  latitude: -546_674_250,
  altitude: -12,
  angle: 248,
  satellites: 11,
  speed: 87,
  eventIoId: 239,
  io: [
    { id: 239, width: 1, value: 1 },
    { id: 66, width: 2, value: 12_345 },
    { id: 241, width: 4, value: 24_602 },
    { id: 78, width: 8, value: 0xfedc_ba98_7654_3210n },
  ],
  ...overrides,
})

let clock = 1_700_000_000_000

/** The fixture record at a fresh timestamp: positions are keyed by (device, ts), so each is new. */
export const freshRecord = (overrides: Partial<AvlRecord> = {}): AvlRecord => {
  clock += 1_000
  return record({ timestampMs: clock, ...overrides })
}

/** Rewrites the CRC of a TCP AVL/message frame after a test edits its data field. */
export const withCrc = (frame: Uint8Array): Uint8Array => {
  const out = Uint8Array.from(frame)
  const view = new DataView(out.buffer)
  const dataLength = view.getUint32(4)
  view.setUint32(8 + dataLength, crc16(out, 8, 8 + dataLength))
  return out
}

export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

/** Deterministic PRNG (mulberry32) so fuzz and chunking runs are reproducible from their seed. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

import type { StreamEntry } from "../../src/domain/StreamEntry.ts"

export interface PayloadOverrides {
  readonly [key: string]: unknown
}

export const validPayload = (deviceId: string, tsMs: number, overrides: PayloadOverrides = {}) => ({
  device_id: deviceId,
  ts: tsMs,
  lat: 54.687157,
  lon: 25.279652,
  altitude: 112,
  angle: 271,
  speed: 46,
  satellites: 11,
  priority: 1,
  event_id: 0,
  attributes: {
    "21": 3,
    "66": 12_845,
    "239": true,
    "78": { $bigint: "18446744073709551615" },
    "385": { $bytes: "AQID" },
  },
  ...overrides,
})

export const entryFields = (payload: unknown, receivedAtMs = 1_700_000_000_500): Array<string> => [
  "payload",
  typeof payload === "string" ? payload : JSON.stringify(payload),
  "received_at",
  String(receivedAtMs),
  "source",
  "test",
]

export const entry = (id: string, payload: unknown): StreamEntry => ({ id, fields: entryFields(payload) })

/** A deterministic generator (mulberry32): the same seed gives the same test data on every run. */
export const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

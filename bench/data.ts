/**
 * Deterministic bench data: SPEC §3.1 stream entries as a Teltonika gateway writes them. The same
 * (entries, devices, resendRate, seed) always yields the same payload strings, byte for byte, so
 * every contender (and the ceiling, which regenerates them in its own process) gets the same data.
 */

export interface DataSpec {
  readonly entries: number
  readonly devices: number
  /** Fraction of entries that repeat an earlier position exactly (a device resending after a lost ACK). */
  readonly resendRate: number
  readonly seed: number
}

export interface Dataset {
  readonly spec: DataSpec
  /** The `payload` field of each entry, in stream order. */
  readonly payloads: ReadonlyArray<string>
  /** The gateway's receive time (epoch ms) of each entry, for the `received_at` field. */
  readonly receivedAtMs: ReadonlyArray<number>
  /** Rows the table must hold once every entry is written: the distinct (device_id, ts) keys. */
  readonly distinctKeys: number
  readonly resends: number
  readonly devicesUsed: number
  readonly payloadBytes: number
}

/** Stream field the gateway adds beside `payload` and `received_at`. */
export const SOURCE = "teltonika-tcp"

/** sfc32: small, fast, good enough for test data, and identical on every platform. */
export const prng = (seed: number): (() => number) => {
  let a = 0x9e3779b9 ^ seed
  let b = 0x243f6a88 ^ (seed >>> 1)
  let c = 0xb7e15162 ^ Math.imul(seed, 0x85ebca6b)
  let d = 1
  const next = (): number => {
    a |= 0
    b |= 0
    c |= 0
    d |= 0
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 16; i++) next()
  return next
}

interface Device {
  readonly imei: string
  /** 8-byte iButton id: above 2^53, so the gateway writes it as {"$bigint"}. */
  readonly ibutton: string
  lat: number
  lon: number
  heading: number
  speed: number
  odometer: number
  tsMs: number
  ignition: number
}

/** 2025-01-01T00:00:00Z: fix times are in the past, as for a fleet's backlog. */
const BASE_TS_MS = 1_735_689_600_000

const round7 = (x: number): number => Math.round(x * 1e7) / 1e7

const makeDevice = (i: number, rnd: () => number): Device => ({
  imei: `35209308${String(i).padStart(7, "0")}`,
  ibutton: (9_223_372_036_854_775_808n + BigInt(i) * 2_654_435_761n).toString(),
  lat: 54.5 + rnd() * 1.5,
  lon: 23.5 + rnd() * 3,
  heading: Math.floor(rnd() * 360),
  speed: Math.floor(rnd() * 90),
  odometer: Math.floor(rnd() * 500_000_000),
  tsMs: BASE_TS_MS + Math.floor(rnd() * 60_000),
  ignition: 1,
})

/** One record of a device: advances its walk and returns the payload JSON (~400 bytes). */
const nextRecord = (d: Device, rnd: () => number): string => {
  d.tsMs += 1_000 + Math.floor(rnd() * 29_000)
  d.heading = (d.heading + Math.floor(rnd() * 41) - 20 + 360) % 360
  d.speed = Math.max(0, Math.min(130, d.speed + Math.floor(rnd() * 21) - 10))
  const step = d.speed / 3_600_000
  d.lat = Math.max(-89, Math.min(89, d.lat + step * Math.cos((d.heading * Math.PI) / 180)))
  d.lon = Math.max(-179, Math.min(179, d.lon + step * Math.sin((d.heading * Math.PI) / 180)))
  d.odometer += Math.floor(d.speed * 5)
  if (rnd() < 0.01) d.ignition = 1 - d.ignition
  return JSON.stringify({
    device_id: d.imei,
    ts: d.tsMs,
    lat: round7(d.lat),
    lon: round7(d.lon),
    altitude: 80 + Math.floor(rnd() * 120),
    angle: d.heading,
    speed: d.speed,
    satellites: 6 + Math.floor(rnd() * 10),
    priority: rnd() < 0.02 ? 1 : 0,
    event_id: rnd() < 0.02 ? 239 : 0,
    attributes: {
      "16": d.odometer,
      "21": 1 + Math.floor(rnd() * 5),
      "66": 12_000 + Math.floor(rnd() * 2_500),
      "67": 3_900 + Math.floor(rnd() * 250),
      "69": 1,
      "78": { $bigint: d.ibutton },
      "181": 5 + Math.floor(rnd() * 15),
      "182": 5 + Math.floor(rnd() * 10),
      "239": d.ignition,
      "240": d.speed > 0 ? 1 : 0,
    },
  })
}

export const generate = (spec: DataSpec): Dataset => {
  const rnd = prng(spec.seed)
  const devices: Array<Device> = []
  for (let i = 0; i < spec.devices; i++) devices.push(makeDevice(i, rnd))
  const payloads: Array<string> = new Array(spec.entries)
  const receivedAtMs: Array<number> = new Array(spec.entries)
  const used = new Uint8Array(spec.devices)
  /** Indexes of recent first sends: a re-send repeats one of them, as a device does within minutes. */
  const recent: Array<number> = []
  const RECENT = 2_000
  let resends = 0
  let nextNew = 0
  let devicesUsed = 0
  let payloadBytes = 0
  for (let i = 0; i < spec.entries; i++) {
    const resend = recent.length > 0 && rnd() < spec.resendRate
    if (resend) {
      const original = recent[Math.floor(rnd() * recent.length)] as number
      payloads[i] = payloads[original] as string
      receivedAtMs[i] = (receivedAtMs[original] as number) + 30_000
      resends++
    } else {
      // Every device appears at least once when there are as many entries as devices (memory case).
      const index = nextNew < spec.devices ? nextNew++ : Math.floor(rnd() * spec.devices)
      const device = devices[index] as Device
      if (used[index] === 0) {
        used[index] = 1
        devicesUsed++
      }
      payloads[i] = nextRecord(device, rnd)
      receivedAtMs[i] = device.tsMs + 200 + Math.floor(rnd() * 800)
      if (recent.length < RECENT) recent.push(i)
      else recent[Math.floor(rnd() * RECENT)] = i
    }
    payloadBytes += (payloads[i] as string).length
  }
  return {
    spec,
    payloads,
    receivedAtMs,
    distinctKeys: spec.entries - resends,
    resends,
    devicesUsed,
    payloadBytes,
  }
}

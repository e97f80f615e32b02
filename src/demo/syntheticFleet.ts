import { Effect } from "effect"
import type { RedisConnection } from "../redis/RedisClient.ts"

/**
 * A fleet that writes SPEC §3.1 entries straight to the stream, as a gateway would: N devices on
 * random walks, at a given total rate, with a few re-sends (the same position again, as a device
 * does when an ACK was lost) and out-of-order records (a buffered fix sent late).
 */
export interface FleetOptions {
  readonly devices: number
  readonly ratePerSecond: number
  readonly stream: string
  /** Fraction of sends that repeat an earlier position. */
  readonly resendRate: number
  /** Fraction of records held back and sent a little later, out of order. */
  readonly lateRate: number
}

export interface FleetStats {
  sent: number
  resent: number
  late: number
  readonly keys: Set<string>
}

interface Device {
  readonly id: string
  lat: number
  lon: number
  heading: number
  nextTs: number
}

const makeDevices = (n: number, startMs: number): Array<Device> =>
  Array.from({ length: n }, (_, i) => ({
    id: `35${String(1_000_000_000_000 + i).slice(-13)}`,
    lat: 54.6 + (i % 100) * 0.01,
    lon: 25.2 + Math.floor(i / 100) * 0.01,
    heading: (i * 37) % 360,
    nextTs: startMs,
  }))

const payloadOf = (d: Device, tsMs: number, rnd: number) =>
  JSON.stringify({
    device_id: d.id,
    ts: tsMs,
    lat: d.lat,
    lon: d.lon,
    altitude: 100 + Math.round(rnd * 50),
    angle: d.heading,
    speed: Math.round(30 + rnd * 60),
    satellites: 7 + Math.round(rnd * 5),
    priority: 0,
    event_id: 0,
    attributes: {
      "21": 3,
      "66": 12_000 + Math.round(rnd * 2000),
      "239": 1,
      "16": { $bigint: String(1_000_000 + tsMs) },
    },
  })

export const runSyntheticFleet = (redis: RedisConnection, options: FleetOptions, stats: FleetStats) =>
  Effect.gen(function* () {
    const devices = makeDevices(options.devices, Date.now() - 60_000)
    const recent: Array<Array<string>> = []
    const held: Array<{ readonly fields: Array<string>; readonly key: string }> = []
    const tickMs = 50
    let cursor = 0
    let owed = 0
    let lastTick = Date.now()
    for (;;) {
      const tick = Date.now()
      owed += (options.ratePerSecond * (tick - lastTick)) / 1000
      lastTick = tick
      const count = Math.floor(owed)
      owed -= count
      const commands: Array<readonly [string, ...Array<string>]> = []
      const keys: Array<string> = []
      const now = Date.now()
      for (let i = 0; i < count; i++) {
        const rnd = Math.random()
        if (rnd < options.resendRate && recent.length > 0) {
          const again = recent[Math.floor(Math.random() * recent.length)] as Array<string>
          commands.push(["XADD", options.stream, "*", ...again])
          stats.resent++
          continue
        }
        const d = devices[cursor] as Device
        cursor = (cursor + 1) % devices.length
        d.heading = (d.heading + (Math.random() - 0.5) * 20 + 360) % 360
        d.lat = Math.max(-89, Math.min(89, d.lat + Math.cos((d.heading * Math.PI) / 180) * 0.0002))
        d.lon = Math.max(-179, Math.min(179, d.lon + Math.sin((d.heading * Math.PI) / 180) * 0.0002))
        const tsMs = Math.max(d.nextTs, now - 1000)
        d.nextTs = tsMs + 1
        const fields = ["payload", payloadOf(d, tsMs, rnd), "received_at", String(now), "source", "demo-fleet"]
        const key = `${d.id}|${tsMs}`
        if (rnd > 1 - options.lateRate) {
          held.push({ fields, key })
          stats.late++
          continue
        }
        commands.push(["XADD", options.stream, "*", ...fields])
        keys.push(key)
        recent.push(fields)
        if (recent.length > 200) recent.shift()
      }
      // Late records go out a tick after newer ones from the same device.
      if (held.length > 20) {
        for (const late of held.splice(0)) {
          commands.push(["XADD", options.stream, "*", ...late.fields])
          keys.push(late.key)
        }
      }
      if (commands.length > 0) {
        yield* redis.pipeline(commands).pipe(Effect.orDie)
        stats.sent += commands.length
        for (const key of keys) stats.keys.add(key)
      }
      yield* Effect.sleep(tickMs)
    }
  })

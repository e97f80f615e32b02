import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option, Result } from "effect"
import { Redis } from "ioredis"
import { decodeEntry } from "../../src/decoder/Decoder.ts"
import { type RedisServer, startRedis } from "../../src/devservers/index.ts"
import { ackedKeys, type FleetReport, fleetImeis, makeFleetMonitor, runFleet } from "../../src/simulator/index.ts"
import { eventually, payloadOf, readStream, startGateway } from "../gateway/harness.ts"

let server: RedisServer
let redis: Redis

beforeAll(async () => {
  server = await startRedis()
  redis = new Redis(server.url, { maxRetriesPerRequest: 1 })
  // The outage case stops this Redis; the reader's reconnect attempts meanwhile are expected.
  redis.on("error", () => undefined)
})

afterAll(async () => {
  redis.disconnect()
  await server.destroy()
})

/** Every ACKed record is in the stream (once, or more after resends), and every entry decodes. */
const checkLedgerAgainstStream = async (report: FleetReport, stream: string) => {
  const entries = await readStream(redis, stream)
  const stored = new Map<string, number>()
  for (const entry of entries) {
    const decoded = decodeEntry({ id: entry.id, fields: entry.fields })
    if (Result.isFailure(decoded)) throw new Error(`${entry.id}: ${decoded.failure.reason}`)
    const p = payloadOf(entry)
    const key = `${p.device_id}/${p.ts}`
    stored.set(key, (stored.get(key) ?? 0) + 1)
  }
  const missing: Array<string> = []
  let acked = 0
  for (const [imei, ts] of ackedKeys(report)) {
    acked++
    if (!stored.has(`${imei}/${ts}`)) missing.push(`${imei}/${ts}`)
  }
  expect(missing).toEqual([])
  expect(acked).toBe(report.recordsAcked)
  for (const [, timestamps] of report.ledger) {
    for (let i = 1; i < timestamps.length; i++) {
      expect(timestamps[i] as number).toBeGreaterThan(timestamps[i - 1] as number)
    }
  }
  return { entries: entries.length, distinct: stored.size }
}

describe("simulated fleet → gateway → Redis", () => {
  it("every ACKed record is in the stream, with reconnects and lost ACKs forcing resends", async () => {
    const gw = await startGateway(server.url)
    try {
      const monitor = makeFleetMonitor()
      const fleet = Effect.runPromise(
        runFleet({
          host: "127.0.0.1",
          port: gw.tcpPort,
          devices: 40,
          recordsPerSecond: 1_000,
          ackTimeoutMs: 2_000,
          reconnectProbability: 0.05,
          dropBeforeAckProbability: 0.05,
          rampUpMs: 200,
          seed: 7,
          monitor,
        }),
      )
      await eventually("the fleet to connect and get 1500 records acknowledged", () => {
        const s = monitor.stats()
        return s.recordsAcked >= 1_500 && s.resends > 0 && s.reconnects > 0
      })
      expect(monitor.stats().connected).toBeGreaterThan(0)
      monitor.stop()
      const report = await fleet

      expect(report.devices).toHaveLength(40)
      expect(new Set(report.devices.map((d) => d.codecId)).size).toBeGreaterThan(1)
      expect(report.unacked).toBe(0)
      expect(report.recordsAcked).toBe(report.recordsGenerated)
      expect(report.connected).toBe(0)
      expect(report.resends).toBeGreaterThan(0)
      const { entries, distinct } = await checkLedgerAgainstStream(report, gw.stream)
      // Lost ACKs mean the gateway stored some packets twice: duplicates, never gaps.
      expect(distinct).toBe(report.recordsAcked)
      expect(entries).toBeGreaterThanOrEqual(distinct)
    } finally {
      await gw.stop()
    }
  })

  it("rides out a Redis restart: devices resend what was not ACKed, nothing ACKed is missing", async () => {
    const gw = await startGateway(server.url, { publishTimeoutMs: 2_000 })
    try {
      const monitor = makeFleetMonitor()
      const fleet = Effect.runPromise(
        runFleet({
          host: "127.0.0.1",
          port: gw.tcpPort,
          devices: 20,
          recordsPerSecond: 400,
          ackTimeoutMs: 1_500,
          rampUpMs: 100,
          seed: 11,
          monitor,
        }),
      )
      await eventually("the fleet to get records acknowledged", () => monitor.stats().recordsAcked >= 200)
      await server.stop()
      await eventually("devices to notice the outage", () => gw.counter("telemetry_gateway_publish_failures_total") > 0)
      const ackedDuringOutage = monitor.stats().recordsAcked
      await server.start()
      await eventually(
        "acknowledgements to resume after the restart",
        () => monitor.stats().recordsAcked >= ackedDuringOutage + 400,
        60_000,
      )
      monitor.stop()
      const report = await fleet
      expect(report.unacked).toBe(0)
      expect(report.resends + report.reconnects).toBeGreaterThan(0)
      await checkLedgerAgainstStream(report, gw.stream)
    } finally {
      await gw.stop()
    }
  })

  it("stops a device whose login is refused and counts it", async () => {
    const imeis = fleetImeis(3, 3)
    const allowed = imeis[1] as string
    const gw = await startGateway(server.url, { imeiAllowlist: Option.some(new Set([allowed])) })
    try {
      const report = await Effect.runPromise(
        runFleet({
          host: "127.0.0.1",
          port: gw.tcpPort,
          devices: 3,
          recordsPerSecond: 300,
          maxRecords: 50,
          rampUpMs: 0,
          seed: 3,
        }),
      )
      expect(report.devices.map((d) => d.imei)).toEqual(imeis)
      expect(report.loginsRejected).toBe(2)
      expect([...report.ledger].filter(([, ts]) => ts.length > 0).map(([imei]) => imei)).toEqual([allowed])
      expect(report.recordsAcked).toBe(50)
      await checkLedgerAgainstStream(report, gw.stream)
    } finally {
      await gw.stop()
    }
  })
})

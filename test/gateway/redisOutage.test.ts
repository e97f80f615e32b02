import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Redis } from "ioredis"
import { type RedisServer, startRedis } from "../../src/devservers/index.ts"
import { CODEC_8E, encodeImei, encodeTcpAvl, encodeUdpAvl, toHex, udpAckFor } from "../../src/gateway/codec/index.ts"
import { freshRecord } from "./codec/fixtures.ts"
import { eventually, payloadOf, readStream, startGateway, TestDevice, UdpDevice } from "./harness.ts"

/* Its own Redis: this file stops and restarts it. */
let server: RedisServer
let redis: Redis

beforeAll(async () => {
  server = await startRedis()
  // Only for reading the stream back; the gateway has its own connections.
  redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  // This reader reconnects by itself while the test has Redis stopped; refused attempts are expected.
  redis.on("error", () => undefined)
})

afterAll(async () => {
  redis.disconnect()
  await server.destroy()
})

const IMEI = "356307042441013"
const record = () => freshRecord()

/** What a device does until its packet is ACKed: (re)connect, log in, send, wait; retry on failure. */
const deliver = async (port: number, packet: Uint8Array, expected: number): Promise<number> => {
  let attempts = 0
  await eventually(
    "the device's resend to be acknowledged",
    async () => {
      attempts++
      const device = await TestDevice.connect(port)
      try {
        device.send(encodeImei(IMEI))
        if ((await device.read(1, 5_000))?.[0] !== 1) return false
        device.send(packet)
        return (await device.read(4, 5_000))?.readUInt32BE(0) === expected
      } finally {
        device.close()
      }
    },
    60_000,
  )
  return attempts
}

describe("Redis down mid-session", () => {
  it("gives no ACK and stores nothing of the packet; the device's resend succeeds after Redis returns", async () => {
    const gw = await startGateway(server.url, { publishTimeoutMs: 5_000 })
    try {
      const device = await TestDevice.login(gw.tcpPort, IMEI, encodeImei)
      const first = [record(), record()]
      device.send(encodeTcpAvl(CODEC_8E, first))
      expect((await device.read(4))?.readUInt32BE(0)).toBe(2)

      await server.stop()
      const second = [record(), record(), record()]
      const packet = encodeTcpAvl(CODEC_8E, second)
      device.send(packet)
      // The gateway closes the connection instead of acknowledging.
      expect(await device.waitClosed(30_000)).toBe(true)
      expect(device.unread.length).toBe(0)
      expect(gw.counter("telemetry_gateway_publish_failures_total")).toBeGreaterThanOrEqual(1)
      expect(gw.counter("telemetry_gateway_connections_closed_total", { reason: "publish_failed" })).toBe(1)

      await server.start()
      await deliver(gw.tcpPort, packet, 3)

      const stored = (await readStream(redis, gw.stream)).map(payloadOf)
      // The first packet survived the restart (AOF), the second is there exactly once: the failed
      // attempt left no partial entries behind.
      expect(stored.map((p) => p.ts)).toEqual([...first, ...second].map((r) => r.timestampMs))
      expect(stored.every((p) => p.device_id === IMEI)).toBe(true)
    } finally {
      await gw.stop()
    }
  })

  it("sends no UDP ACK while Redis is down; the resent datagram is ACKed once it is back", async () => {
    const gw = await startGateway(server.url, { publishTimeoutMs: 5_000 })
    const device = await UdpDevice.open()
    try {
      const records = [record(), record()]
      const datagram = encodeUdpAvl({ packetId: 9, avlPacketId: 4, imei: IMEI, codecId: CODEC_8E, records })
      await server.stop()
      device.send(gw.udpPort, datagram)
      await eventually(
        "the failed publish to be counted",
        () => gw.counter("telemetry_gateway_frames_total", { transport: "udp", result: "PublishFailed" }) === 1,
      )
      await server.start()
      let reply: Buffer | undefined
      await eventually(
        "a resent datagram to be acknowledged",
        async () => {
          device.send(gw.udpPort, datagram)
          reply = await device.nextReply(2_000)
          return reply !== undefined
        },
        60_000,
      )
      // Only the resend's reply: the datagram sent during the outage got none.
      expect(toHex(Uint8Array.from(reply ?? []))).toBe(toHex(udpAckFor(9, 4, 2)))
      const stored = (await readStream(redis, gw.stream)).map(payloadOf).map((p) => p.ts)
      for (const r of records) expect(stored).toContain(r.timestampMs)
    } finally {
      device.close()
      await gw.stop()
    }
  })
})

import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Option, Result } from "effect"
import { decodeEntry } from "../../src/decoder/Decoder.ts"
import {
  type AvlRecord,
  CODEC_8,
  CODEC_8E,
  CODEC_12,
  CODEC_16,
  encodeImei,
  encodePing,
  encodeTcpAvl,
  encodeTcpMessages,
  encodeUdpAvl,
  toHex,
  udpAckFor,
} from "../../src/gateway/codec/index.ts"
import { toEntry } from "../../src/gateway/toEntry.ts"
import { ownRedis } from "../support/ownRedis.ts"
import { freshRecord } from "./codec/fixtures.ts"
import { eventually, payloadOf, readStream, startGateway, TestDevice, UdpDevice } from "./harness.ts"

const IMEI = "356307042441013"
const OTHER_IMEI = "352093081452251"

const own = ownRedis({ appendOnly: false })

const record = freshRecord

const login = (port: number, imei = IMEI) => TestDevice.login(port, imei, encodeImei)

describe("TCP login", () => {
  it("accepts any well-formed IMEI when no allow-list is configured", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await TestDevice.connect(gw.tcpPort)
      device.send(encodeImei(OTHER_IMEI))
      expect(toHex(Uint8Array.from((await device.read(1)) ?? []))).toBe("01")
      device.close()
    } finally {
      await gw.stop()
    }
  })

  it("answers 01 to an allowed IMEI and 00 to any other, then closes", async () => {
    const gw = await startGateway(own.server.url, { imeiAllowlist: Option.some(new Set([IMEI])) })
    try {
      const allowed = await TestDevice.connect(gw.tcpPort)
      allowed.send(encodeImei(IMEI))
      expect((await allowed.read(1))?.[0]).toBe(0x01)

      const unknown = await TestDevice.connect(gw.tcpPort)
      unknown.send(encodeImei(OTHER_IMEI))
      expect((await unknown.read(1))?.[0]).toBe(0x00)
      expect(await unknown.waitClosed()).toBe(true)
      expect(gw.counter("telemetry_gateway_frames_total", { result: "ImeiRejected" })).toBe(1)

      // The accepted device is unaffected.
      allowed.send(encodeTcpAvl(CODEC_8E, [record()]))
      expect((await allowed.read(4))?.readUInt32BE(0)).toBe(1)
      allowed.close()
    } finally {
      await gw.stop()
    }
  })

  it("closes a connection that sends data before logging in", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await TestDevice.connect(gw.tcpPort)
      device.send(encodeTcpAvl(CODEC_8E, [record()]))
      expect(await device.waitClosed()).toBe(true)
      expect(device.unread.length).toBe(0)
      expect(gw.counter("telemetry_gateway_frames_total", { result: "BadImei" })).toBe(1)
      expect(await own.client.exists(gw.stream)).toBe(0)
    } finally {
      await gw.stop()
    }
  })
})

describe("AVL packets over TCP", () => {
  it("stores every record as SPEC §5 says, then ACKs the record count", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await login(gw.tcpPort)
      const records = [
        record({ eventIoId: 239, priority: 1 }),
        record({
          longitude: -1_234_567_890,
          latitude: -123_456_789,
          altitude: -5,
          io: [
            { id: 1, width: 1, value: 0 },
            { id: 78, width: 8, value: 0xffff_ffff_ffff_ffffn },
            { id: 79, width: 8, value: 42n },
            { id: 385, width: "x", bytes: Uint8Array.of(0xde, 0xad, 0xbe, 0xef) },
          ],
        }),
        record({ io: [] }),
      ]
      const before = Date.now()
      device.send(encodeTcpAvl(CODEC_8E, records))
      const ack = await device.read(4)
      const after = Date.now()
      expect(ack?.readUInt32BE(0)).toBe(3)

      const entries = await readStream(own.client, gw.stream)
      expect(entries).toHaveLength(3)
      for (const [i, entry] of entries.entries()) {
        const r = records[i] as AvlRecord
        // Field by field: payload, received_at, source, and nothing else.
        expect(entry.fields).toHaveLength(6)
        expect([entry.fields[0], entry.fields[2], entry.fields[4], entry.fields[5]]).toEqual([
          "payload",
          "received_at",
          "source",
          "teltonika-tcp",
        ])
        const receivedAt = Number(entry.fields[3])
        expect(receivedAt).toBeGreaterThanOrEqual(before)
        expect(receivedAt).toBeLessThanOrEqual(after)
        expect(entry.fields[1]).toBe(toEntry(r, IMEI, "tcp", receivedAt)[1])
        const payload = payloadOf(entry)
        expect(payload.device_id).toBe(IMEI)
        expect(payload.ts).toBe(r.timestampMs)
        expect(payload.lat).toBe(r.latitude / 1e7)
        expect(payload.lon).toBe(r.longitude / 1e7)
        expect(payload.altitude).toBe(r.altitude)
        expect(payload.angle).toBe(r.angle)
        expect(payload.speed).toBe(r.speed)
        expect(payload.satellites).toBe(r.satellites)
        expect(payload.priority).toBe(r.priority)
        expect(payload.event_id).toBe(r.eventIoId)

        const decoded = decodeEntry({ id: entry.id, fields: entry.fields })
        if (Result.isFailure(decoded)) throw new Error(decoded.failure.reason)
        expect(decoded.success.deviceId).toBe(IMEI)
        expect(decoded.success.tsMs).toBe(r.timestampMs)
        expect(decoded.success.receivedAtMs).toBe(receivedAt)
      }
      expect(payloadOf(entries[1] as (typeof entries)[number]).attributes).toStrictEqual({
        "1": 0,
        "78": { $bigint: "18446744073709551615" },
        "79": 42,
        "385": { $bytes: "3q2+7w==" },
      })
      expect(gw.counter("telemetry_gateway_records_published_total")).toBe(3)
      expect(gw.counter("telemetry_gateway_frames_total", { transport: "tcp", result: "ok" })).toBe(2)
      expect(gw.counter("telemetry_gateway_ack_latency_seconds")).toBe(1)
      device.close()
    } finally {
      await gw.stop()
    }
  })

  it("handles Codec 8 and Codec 16 (with generation_type) on one connection", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await login(gw.tcpPort)
      device.send(encodeTcpAvl(CODEC_8, [record()]))
      expect((await device.read(4))?.readUInt32BE(0)).toBe(1)
      device.send(encodeTcpAvl(CODEC_16, [record({ generationType: 3 }), record({ generationType: 5 })]))
      expect((await device.read(4))?.readUInt32BE(0)).toBe(2)

      const payloads = (await readStream(own.client, gw.stream)).map(payloadOf)
      expect(payloads.map((p) => (p.attributes as Record<string, unknown>).generation_type)).toEqual([undefined, 3, 5])
      device.close()
    } finally {
      await gw.stop()
    }
  })

  it("ACKs back-to-back packets in order, and packets split into single bytes", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await login(gw.tcpPort)
      const packets = [[record()], [record(), record()], [record(), record(), record()]].map((rs) =>
        encodeTcpAvl(CODEC_8E, rs),
      )
      device.send(Buffer.concat(packets))
      for (const n of [1, 2, 3]) expect((await device.read(4))?.readUInt32BE(0)).toBe(n)

      const split = encodeTcpAvl(CODEC_8E, [record(), record()])
      for (const byte of split) {
        device.send(Uint8Array.of(byte))
        await new Promise((r) => setImmediate(r))
      }
      expect((await device.read(4))?.readUInt32BE(0)).toBe(2)
      expect(await own.client.xlen(gw.stream)).toBe(8)
      device.close()
    } finally {
      await gw.stop()
    }
  })

  it("ACKs an empty packet with 0 and stores nothing", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await login(gw.tcpPort)
      device.send(encodeTcpAvl(CODEC_8E, []))
      expect((await device.read(4))?.readUInt32BE(0)).toBe(0)
      expect(await own.client.exists(gw.stream)).toBe(0)
      device.close()
    } finally {
      await gw.stop()
    }
  })

  it("ignores keep-alive pings and command/response frames", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const device = await login(gw.tcpPort)
      device.send(encodePing())
      device.send(encodeTcpMessages(CODEC_12, [{ type: 0x06, payload: new TextEncoder().encode("getinfo reply") }]))
      device.send(encodePing())
      device.send(encodeTcpAvl(CODEC_8E, [record()]))
      expect((await device.read(4))?.readUInt32BE(0)).toBe(1)
      expect(device.unread.length).toBe(0)
      expect(gw.counter("telemetry_gateway_frames_total", { result: "ignored" })).toBe(1)
      device.close()
    } finally {
      await gw.stop()
    }
  })

  it("closes only the connection that sent a malformed frame", async () => {
    const gw = await startGateway(own.server.url)
    try {
      const good = await login(gw.tcpPort, IMEI)
      const bad = await login(gw.tcpPort, OTHER_IMEI)
      const packet = encodeTcpAvl(CODEC_8E, [record()])
      const corrupt = Uint8Array.from(packet)
      corrupt[corrupt.length - 1] = (corrupt[corrupt.length - 1] ?? 0) ^ 0xff
      bad.send(corrupt)
      expect(await bad.waitClosed()).toBe(true)
      expect(bad.unread.length).toBe(0)
      expect(gw.counter("telemetry_gateway_frames_total", { result: "CrcMismatch" })).toBe(1)
      expect(gw.counter("telemetry_gateway_connections_closed_total", { reason: "codec_error" })).toBe(1)

      good.send(packet)
      expect((await good.read(4))?.readUInt32BE(0)).toBe(1)
      const stored = (await readStream(own.client, gw.stream)).map(payloadOf)
      expect(stored.map((p) => p.device_id)).toEqual([IMEI])
      good.close()
    } finally {
      await gw.stop()
    }
  })

  it("closes a connection whose length field exceeds the frame limit, before buffering it", async () => {
    const gw = await startGateway(own.server.url, { maxFrameBytes: 1_024 })
    try {
      const device = await login(gw.tcpPort)
      const header = Buffer.alloc(8)
      header.writeUInt32BE(1_000_000, 4)
      device.send(header)
      expect(await device.waitClosed()).toBe(true)
      expect(gw.counter("telemetry_gateway_frames_total", { result: "FrameTooLarge" })).toBe(1)
    } finally {
      await gw.stop()
    }
  })

  it("trims with MAXLEN ~ when REDIS_STREAM_MAXLEN is set", async () => {
    const gw = await startGateway(own.server.url, { streamMaxLen: Option.some(10) })
    try {
      const device = await login(gw.tcpPort)
      for (let p = 0; p < 3; p++) {
        device.send(
          encodeTcpAvl(
            CODEC_8,
            Array.from({ length: 200 }, () => record()),
          ),
        )
        expect((await device.read(4))?.readUInt32BE(0)).toBe(200)
      }
      const length = await own.client.xlen(gw.stream)
      expect(length).toBeGreaterThanOrEqual(10)
      expect(length).toBeLessThan(600)
      device.close()
    } finally {
      await gw.stop()
    }
  })
})

describe("timeouts and limits", () => {
  it("closes a connection that does not log in in time, also one trickling its login", async () => {
    const gw = await startGateway(own.server.url, { loginTimeoutMs: 200 })
    try {
      const silent = await TestDevice.connect(gw.tcpPort)
      const trickling = await TestDevice.connect(gw.tcpPort)
      const imei = encodeImei(IMEI)
      let i = 0
      const timer = setInterval(() => {
        if (i < imei.length - 1) trickling.send(imei.subarray(i, ++i))
      }, 50)
      try {
        expect(await silent.waitClosed()).toBe(true)
        expect(await trickling.waitClosed()).toBe(true)
      } finally {
        clearInterval(timer)
      }
      expect(gw.counter("telemetry_gateway_connections_closed_total", { reason: "login_timeout" })).toBe(2)
    } finally {
      await gw.stop()
    }
  })

  it("closes a logged-in connection that stays idle", async () => {
    const gw = await startGateway(own.server.url, { idleTimeoutMs: 300 })
    try {
      const device = await login(gw.tcpPort)
      expect(await device.waitClosed()).toBe(true)
      expect(gw.counter("telemetry_gateway_connections_closed_total", { reason: "idle_timeout" })).toBe(1)
    } finally {
      await gw.stop()
    }
  })

  it("closes a connection that starts a frame and never finishes it", async () => {
    const gw = await startGateway(own.server.url, { loginTimeoutMs: 300 })
    try {
      const device = await login(gw.tcpPort)
      const packet = encodeTcpAvl(CODEC_8E, [record()])
      device.send(packet.subarray(0, 20))
      expect(await device.waitClosed()).toBe(true)
      expect(gw.counter("telemetry_gateway_connections_closed_total", { reason: "slow_frame" })).toBe(1)
    } finally {
      await gw.stop()
    }
  })

  it("refuses connections beyond GATEWAY_MAX_CONNECTIONS and accepts again once one closes", async () => {
    const gw = await startGateway(own.server.url, { maxConnections: 2 })
    try {
      const a = await login(gw.tcpPort, IMEI)
      const b = await login(gw.tcpPort, OTHER_IMEI)
      const c = await TestDevice.connect(gw.tcpPort)
      c.send(encodeImei(IMEI))
      expect(await c.waitClosed()).toBe(true)
      expect(c.unread.length).toBe(0)
      expect(gw.counter("telemetry_gateway_connections_closed_total", { reason: "max_connections" })).toBe(1)

      a.close()
      await eventually("the closed connection to be released", () => gw.counter("telemetry_gateway_connections") < 2)
      const d = await login(gw.tcpPort, IMEI)
      d.send(encodeTcpAvl(CODEC_8E, [record()]))
      expect((await d.read(4))?.readUInt32BE(0)).toBe(1)
      b.send(encodeTcpAvl(CODEC_8E, [record()]))
      expect((await b.read(4))?.readUInt32BE(0)).toBe(1)
      b.close()
      d.close()
    } finally {
      await gw.stop()
    }
  })
})

describe("UDP", () => {
  it("stores a datagram's records, then sends the UDP ACK", async () => {
    const gw = await startGateway(own.server.url)
    const device = await UdpDevice.open()
    try {
      const records = [record(), record({ io: [{ id: 78, width: 8, value: 1n << 60n }] })]
      device.send(
        gw.udpPort,
        encodeUdpAvl({ packetId: 0xcafe, avlPacketId: 7, imei: IMEI, codecId: CODEC_8E, records }),
      )
      const reply = await device.nextReply()
      expect(toHex(Uint8Array.from(reply ?? []))).toBe(toHex(udpAckFor(0xcafe, 7, 2)))

      const entries = await readStream(own.client, gw.stream)
      expect(entries.map((e) => e.fields[5])).toEqual(["teltonika-udp", "teltonika-udp"])
      for (const entry of entries) {
        const decoded = decodeEntry({ id: entry.id, fields: entry.fields })
        if (Result.isFailure(decoded)) throw new Error(decoded.failure.reason)
        expect(decoded.success.deviceId).toBe(IMEI)
      }
      expect(payloadOf(entries[1] as (typeof entries)[number]).attributes).toStrictEqual({
        "78": { $bigint: "1152921504606846976" },
      })
    } finally {
      device.close()
      await gw.stop()
    }
  })

  it("drops malformed datagrams and unknown IMEIs without an ACK, and keeps serving", async () => {
    const gw = await startGateway(own.server.url, { imeiAllowlist: Option.some(new Set([IMEI])) })
    const device = await UdpDevice.open()
    try {
      device.send(gw.udpPort, Uint8Array.of(0x00, 0x05, 0xff, 0xff, 0x01, 0x02, 0x03))
      device.send(
        gw.udpPort,
        encodeUdpAvl({ packetId: 1, avlPacketId: 1, imei: OTHER_IMEI, codecId: CODEC_8, records: [record()] }),
      )
      device.send(
        gw.udpPort,
        encodeUdpAvl({ packetId: 2, avlPacketId: 2, imei: IMEI, codecId: CODEC_8, records: [record()] }),
      )
      // Replies come in order of completion; the only one is for the allowed, well-formed datagram.
      const reply = await device.nextReply()
      expect(toHex(Uint8Array.from(reply ?? []))).toBe(toHex(udpAckFor(2, 2, 1)))
      await eventually("both bad datagrams to be counted", () => {
        return (
          gw.counter("telemetry_gateway_frames_total", { transport: "udp", result: "ImeiRejected" }) === 1 &&
          gw.counter("telemetry_gateway_frames_total", { transport: "udp", result: "LengthMismatch" }) +
            gw.counter("telemetry_gateway_frames_total", { transport: "udp", result: "UnexpectedEnd" }) ===
            1
        )
      })
      expect((await readStream(own.client, gw.stream)).map((e) => payloadOf(e).device_id)).toEqual([IMEI])
    } finally {
      device.close()
      await gw.stop()
    }
  })
})

describe("start-up", () => {
  it.each(["tcpPort", "udpPort"] as const)("fails with GatewayListenError when the %s is taken", async (which) => {
    const first = await startGateway(own.server.url)
    try {
      const port = which === "tcpPort" ? first.tcpPort : first.udpPort
      const error = await startGateway(own.server.url, { [which]: port }).then(
        (second) => second.stop().then(() => undefined),
        (e: unknown) => e,
      )
      expect(String(error)).toContain("GatewayListenError")
      expect(String(error)).toContain(String(port))
      // The first gateway is unaffected.
      const device = await login(first.tcpPort)
      device.close()
    } finally {
      await first.stop()
    }
  })
})

describe("shutdown", () => {
  it("stops listening and closes device connections when its scope closes", async () => {
    const gw = await startGateway(own.server.url)
    const device = await login(gw.tcpPort)
    device.send(encodeTcpAvl(CODEC_8E, [record()]))
    expect((await device.read(4))?.readUInt32BE(0)).toBe(1)
    await gw.stop()
    expect(await device.waitClosed()).toBe(true)
    const refused = await new Promise<boolean>((resolve) => {
      const socket = Net.connect({ host: "127.0.0.1", port: gw.tcpPort })
      socket.once("connect", () => {
        socket.destroy()
        resolve(false)
      })
      socket.once("error", () => resolve(true))
    })
    expect(refused).toBe(true)
  })
})

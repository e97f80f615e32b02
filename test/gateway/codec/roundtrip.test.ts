import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import {
  type AvlCodecId,
  type AvlRecord,
  CODEC_8,
  CODEC_8E,
  CODEC_16,
  decodeAvlData,
  decodeTcpFrame,
  decodeUdpDatagram,
  encodeAvlData,
  encodeImei,
  encodePing,
  encodeTcpAvl,
  encodeTcpMessages,
  encodeUdpAvl,
  type IoElement,
  type MessageCodecId,
  type TcpFrame,
  TcpFrameDecoder,
  toHex,
  udpAckFor,
} from "../../../src/gateway/codec/index.ts"
import { concat } from "./fixtures.ts"

const int = (minimum: number, maximum: number): Arbitrary.Arbitrary<number> =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum, maximum })))

const u64 = Arbitrary.schema(Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: 0n, maximum: 2n ** 64n - 1n })))

const bytes = (maxLength: number): Arbitrary.Arbitrary<Uint8Array> =>
  Arbitrary.map(Arbitrary.array(int(0, 255), { maxLength }), (xs) => Uint8Array.from(xs))

const ioElement = (codecId: AvlCodecId): Arbitrary.Arbitrary<IoElement> => {
  const id = codecId === CODEC_8 ? int(0, 0xff) : int(0, 0xffff)
  const widths: ReadonlyArray<IoElement["width"]> = codecId === CODEC_8E ? [1, 2, 4, 8, "x"] : [1, 2, 4, 8]
  return Arbitrary.flatMap(Arbitrary.schema(Schema.Literals(widths)), (width): Arbitrary.Arbitrary<IoElement> => {
    switch (width) {
      case 1:
        return Arbitrary.map(Arbitrary.all([id, int(0, 0xff)]), ([i, value]) => ({ id: i, width, value }))
      case 2:
        return Arbitrary.map(Arbitrary.all([id, int(0, 0xffff)]), ([i, value]) => ({ id: i, width, value }))
      case 4:
        return Arbitrary.map(Arbitrary.all([id, int(0, 0xffff_ffff)]), ([i, value]) => ({ id: i, width, value }))
      case 8:
        return Arbitrary.map(Arbitrary.all([id, u64]), ([i, value]) => ({ id: i, width, value }))
      case "x":
        return Arbitrary.map(Arbitrary.all([id, bytes(64)]), ([i, b]) => ({ id: i, width, bytes: b }))
    }
  })
}

const avlRecord = (codecId: AvlCodecId): Arbitrary.Arbitrary<AvlRecord> =>
  Arbitrary.map(
    Arbitrary.all({
      timestampMs: int(0, Number.MAX_SAFE_INTEGER),
      priority: int(0, 0xff),
      longitude: int(-0x8000_0000, 0x7fff_ffff),
      latitude: int(-0x8000_0000, 0x7fff_ffff),
      altitude: int(-0x8000, 0x7fff),
      angle: int(0, 0xffff),
      satellites: int(0, 0xff),
      speed: int(0, 0xffff),
      eventIoId: codecId === CODEC_8 ? int(0, 0xff) : int(0, 0xffff),
      generationType: int(0, 0xff),
      io: Arbitrary.array(ioElement(codecId), { maxLength: 24 }),
    }),
    (r): AvlRecord => {
      const base = {
        timestampMs: r.timestampMs,
        priority: r.priority,
        longitude: r.longitude,
        latitude: r.latitude,
        altitude: r.altitude,
        angle: r.angle,
        satellites: r.satellites,
        speed: r.speed,
        eventIoId: r.eventIoId,
      }
      return codecId === CODEC_16 ? { ...base, generationType: r.generationType, io: r.io } : { ...base, io: r.io }
    },
  )

const records = (codecId: AvlCodecId) => Arbitrary.array(avlRecord(codecId), { maxLength: 6 })

const imei = Arbitrary.map(Arbitrary.array(int(0, 9), { minLength: 15, maxLength: 15 }), (ds) => ds.join(""))

/** What a decoder returns for generated input: the wire groups IO elements by width, stably. */
const wireOrder = (rs: ReadonlyArray<AvlRecord>): Array<AvlRecord> => {
  const rank = (w: IoElement["width"]): number => (w === "x" ? 16 : w)
  return rs.map((r) => ({ ...r, io: [...r.io].sort((a, b) => rank(a.width) - rank(b.width)) }))
}

const PROPS = { arbitrary: { runs: 150, seed: 20_240_611 } }

const codecs: ReadonlyArray<readonly [string, AvlCodecId]> = [
  ["8", CODEC_8],
  ["8E", CODEC_8E],
  ["16", CODEC_16],
]

describe("encode → decode round trips", () => {
  for (const [name, codecId] of codecs) {
    it.prop(
      `Codec ${name} TCP packet`,
      { rs: records(codecId) },
      ({ rs }) => {
        const frame = encodeTcpAvl(codecId, rs)
        const decoded = Result.getOrThrow(decodeTcpFrame(frame, "data", { strictIoTotal: true }))
        expect(decoded._tag).toBe("Avl")
        if (decoded._tag !== "Avl") return
        expect(decoded.codecId).toBe(codecId)
        expect(decoded.records).toStrictEqual(wireOrder(rs))
        expect(toHex(decoded.ack)).toBe(rs.length.toString(16).padStart(8, "0"))
        // Encoding the decoded records reproduces the frame byte for byte.
        expect(toHex(encodeTcpAvl(codecId, decoded.records))).toBe(toHex(frame))
      },
      PROPS,
    )

    it.prop(
      `Codec ${name} UDP datagram`,
      { rs: records(codecId), packetId: int(0, 0xffff), avlPacketId: int(0, 0xff), imei },
      ({ rs, packetId, avlPacketId, imei }) => {
        const datagram = encodeUdpAvl({ packetId, avlPacketId, imei, codecId, records: rs })
        const decoded = Result.getOrThrow(decodeUdpDatagram(datagram, { strictIoTotal: true }))
        expect(decoded).toMatchObject({ packetId, avlPacketId, imei, codecId, packetType: 1 })
        expect(decoded.records).toStrictEqual(wireOrder(rs))
        expect(toHex(decoded.ack)).toBe(toHex(udpAckFor(packetId, avlPacketId, rs.length)))
      },
      PROPS,
    )

    it.prop(
      `Codec ${name} bare data field`,
      { rs: records(codecId) },
      ({ rs }) => {
        const decoded = Result.getOrThrow(decodeAvlData(encodeAvlData(codecId, rs)))
        expect(decoded.records).toStrictEqual(wireOrder(rs))
      },
      PROPS,
    )
  }

  it.prop(
    "a login + packets + pings session through the stream decoder at arbitrary chunk sizes",
    { imei, rs: records(CODEC_8E), more: records(CODEC_16), sizes: Arbitrary.array(int(1, 97), { minLength: 1 }) },
    ({ imei, rs, more, sizes }) => {
      const wire = concat(
        encodeImei(imei),
        encodeTcpAvl(CODEC_8E, rs),
        encodePing(),
        encodeTcpAvl(CODEC_16, more),
        encodeTcpAvl(CODEC_8E, rs),
      )
      const decoder = new TcpFrameDecoder()
      const frames: Array<TcpFrame> = []
      let off = 0
      let i = 0
      while (off < wire.length) {
        const size = sizes[i++ % sizes.length] ?? 1
        decoder.push(wire.subarray(off, off + size))
        off += size
        for (;;) {
          const next = decoder.next(frames.length === 0 ? "login" : "data")
          if (next === undefined) break
          frames.push(Result.getOrThrow(next))
        }
      }
      expect(decoder.buffered).toBe(0)
      expect(frames.map((f) => f._tag)).toStrictEqual(["Imei", "Avl", "Ping", "Avl", "Avl"])
      const [login, first, , second] = frames
      expect(login).toMatchObject({ imei })
      expect(first?._tag === "Avl" ? first.records : undefined).toStrictEqual(wireOrder(rs))
      expect(second?._tag === "Avl" ? second.records : undefined).toStrictEqual(wireOrder(more))
    },
    PROPS,
  )

  const messageCodecs: ReadonlyArray<MessageCodecId> = [0x0c, 0x0d, 0x0e, 0x0f]
  for (const codecId of messageCodecs) {
    it.prop(
      `Codec ${codecId} message frame`,
      {
        type: int(0, 0xff),
        ts: int(0, 0xffff_ffff),
        imei,
        payload: bytes(200),
        ascii: Arbitrary.schema(Schema.Boolean),
      },
      ({ type, ts, imei, payload, ascii }) => {
        // Half the runs use printable payloads so the `text` view is exercised too.
        const body = ascii ? payload.map((b) => 0x20 + (b % 95)) : payload
        const message = {
          type,
          ...(codecId === 0x0d || codecId === 0x0f ? { timestampS: ts } : {}),
          ...(codecId === 0x0e || codecId === 0x0f ? { imei } : {}),
          payload: body,
        }
        const frame = encodeTcpMessages(codecId, [message, message])
        const decoded = Result.getOrThrow(decodeTcpFrame(frame, "data"))
        expect(decoded._tag).toBe("Message")
        if (decoded._tag !== "Message") return
        expect(decoded.messages).toHaveLength(2)
        const m = decoded.messages[0]
        expect(m).toMatchObject(message)
        if (ascii) expect(m?.text).toBe(new TextDecoder().decode(body))
        expect(toHex(encodeTcpMessages(codecId, decoded.messages))).toBe(toHex(frame))
      },
      PROPS,
    )
  }
})

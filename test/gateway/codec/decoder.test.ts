import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import {
  ackFor,
  CODEC_8,
  CODEC_8E,
  CODEC_12,
  CODEC_16,
  crc16,
  decodeAvlData,
  decodeTcpFrame,
  decodeTcpStream,
  decodeUdpDatagram,
  encodeAvlData,
  encodeImei,
  encodePing,
  encodeTcpAvl,
  encodeTcpMessages,
  encodeUdpAvl,
  IMEI_ACCEPT,
  IMEI_REJECT,
  ioValue,
  type TcpFrame,
  TcpFrameDecoder,
  type TeltonikaCodecError,
  toHex,
  udpAckFor,
} from "../../../src/gateway/codec/index.ts"
import { concat, IMEI, record, withCrc } from "./fixtures.ts"

const failureTag = <A>(r: Result.Result<A, TeltonikaCodecError> | undefined): string | undefined =>
  r !== undefined && Result.isFailure(r) ? r.failure._tag : undefined

const frameOf = (r: Result.Result<TcpFrame, TeltonikaCodecError> | undefined): TcpFrame => {
  if (r === undefined) throw new Error("decoder is waiting for more bytes")
  return Result.getOrThrow(r)
}

describe("crc16", () => {
  it("is CRC-16/IBM (ARC): check value of '123456789' is 0xBB3D", () => {
    expect(crc16(new TextEncoder().encode("123456789"))).toBe(0xbb3d)
    expect(crc16(new Uint8Array(0))).toBe(0)
  })

  it("covers only the requested range", () => {
    const bytes = new TextEncoder().encode("xx123456789yy")
    expect(crc16(bytes, 2, 11)).toBe(0xbb3d)
  })
})

describe("acks and replies", () => {
  it("TCP ack is the record count as 4 bytes", () => {
    expect(toHex(ackFor(0))).toBe("00000000")
    expect(toHex(ackFor(2))).toBe("00000002")
    expect(toHex(ackFor(255))).toBe("000000ff")
  })

  it("UDP ack is 0005 + packet id + 01 + AVL packet id + count", () => {
    expect(toHex(udpAckFor(0xcafe, 0x07, 1))).toBe("0005cafe010701")
  })

  it("login replies are 01 / 00", () => {
    expect(toHex(IMEI_ACCEPT)).toBe("01")
    expect(toHex(IMEI_REJECT)).toBe("00")
  })
})

describe("ioValue", () => {
  it("gives a number while exact and a bigint above 2^53-1", () => {
    expect(ioValue({ id: 1, width: 8, value: 2n ** 53n - 1n })).toBe(Number.MAX_SAFE_INTEGER)
    expect(ioValue({ id: 1, width: 8, value: 2n ** 53n })).toBe(2n ** 53n)
    expect(ioValue({ id: 1, width: 2, value: 7 })).toBe(7)
    expect(ioValue({ id: 1, width: "x", bytes: new Uint8Array(2) })).toBeUndefined()
  })
})

describe("TcpFrameDecoder", () => {
  const packet = encodeTcpAvl(CODEC_8E, [record(), record({ priority: 2 })])

  it("returns several frames pushed in one chunk, switching expectation between them", () => {
    const decoder = new TcpFrameDecoder()
    decoder.push(concat(encodePing(), encodeImei(IMEI), packet, encodePing(), packet))
    expect(frameOf(decoder.next("login"))._tag).toBe("Ping")
    const login = frameOf(decoder.next("login"))
    expect(login).toMatchObject({ _tag: "Imei", imei: IMEI })
    const first = frameOf(decoder.next("data"))
    expect(first._tag).toBe("Avl")
    if (first._tag === "Avl") {
      expect(first.records).toHaveLength(2)
      expect(toHex(first.ack)).toBe("00000002")
      expect(toHex(first.raw)).toBe(toHex(packet))
    }
    expect(frameOf(decoder.next("data"))._tag).toBe("Ping")
    expect(frameOf(decoder.next("data"))._tag).toBe("Avl")
    expect(decoder.next("data")).toBeUndefined()
    expect(decoder.buffered).toBe(0)
  })

  it("waits on a partial frame and completes it from later chunks", () => {
    const decoder = new TcpFrameDecoder()
    decoder.push(packet.subarray(0, 5))
    expect(decoder.next("data")).toBeUndefined()
    decoder.push(packet.subarray(5, 40))
    expect(decoder.next("data")).toBeUndefined()
    expect(decoder.buffered).toBe(40)
    decoder.push(packet.subarray(40))
    expect(frameOf(decoder.next("data"))._tag).toBe("Avl")
  })

  it("rejects an oversized length field as soon as the header is in, without buffering the body", () => {
    const decoder = new TcpFrameDecoder({ maxFrameSize: 1024 })
    const header = Uint8Array.of(0, 0, 0, 0, 0x00, 0x10, 0x00, 0x00, 0x08)
    decoder.push(header)
    const failed = decoder.next("data")
    expect(failureTag(failed)).toBe("FrameTooLarge")
    expect(decoder.buffered).toBe(0)
    decoder.push(new Uint8Array(4096))
    expect(decoder.buffered).toBe(0)
    expect(decoder.next("data")).toBe(failed)
  })

  it("accepts a frame of exactly maxFrameSize and rejects one byte more", () => {
    expect(Result.isSuccess(decodeTcpFrame(packet, "data", { maxFrameSize: packet.length }))).toBe(true)
    expect(failureTag(decodeTcpFrame(packet, "data", { maxFrameSize: packet.length - 1 }))).toBe("FrameTooLarge")
  })

  it("fails on a bad preamble from its first non-zero byte", () => {
    const decoder = new TcpFrameDecoder()
    decoder.push(Uint8Array.of(0x00, 0x07))
    expect(failureTag(decoder.next("data"))).toBe("BadPreamble")
  })

  it("enforces the caller's expectation: login vs data", () => {
    expect(failureTag(decodeTcpFrame(packet, "login"))).toBe("BadImei")
    expect(failureTag(decodeTcpFrame(encodeImei(IMEI), "data"))).toBe("BadPreamble")
    expect(frameOf(decodeTcpFrame(packet, "any"))._tag).toBe("Avl")
    expect(frameOf(decodeTcpFrame(encodeImei(IMEI), "any"))._tag).toBe("Imei")
    expect(frameOf(decodeTcpFrame(encodePing(), "login"))._tag).toBe("Ping")
    expect(frameOf(decodeTcpFrame(encodePing(), "data"))._tag).toBe("Ping")
  })

  it("validates the IMEI: length 15, digits only", () => {
    const short = Uint8Array.of(0x00, 0x04, 0x31, 0x32, 0x33, 0x34)
    expect(failureTag(decodeTcpFrame(short, "login"))).toBe("BadImei")
    const letters = encodeImei(IMEI)
    letters[5] = 0x41
    expect(failureTag(decodeTcpFrame(letters, "login"))).toBe("BadImei")
    // A first length byte that is not 0 can only be garbage: fail without waiting for 256+ bytes.
    const decoder = new TcpFrameDecoder()
    decoder.push(Uint8Array.of(0x01))
    expect(failureTag(decoder.next("login"))).toBe("BadImei")
  })

  it("a whole-buffer decode reports truncation and trailing bytes", () => {
    expect(failureTag(decodeTcpFrame(packet.subarray(0, 20), "data"))).toBe("Incomplete")
    expect(failureTag(decodeTcpFrame(packet.subarray(0, 3), "data"))).toBe("Incomplete")
    expect(failureTag(decodeTcpFrame(concat(packet, Uint8Array.of(0xff)), "data"))).toBe("LengthMismatch")
    expect(failureTag(decodeTcpStream(concat(packet, packet.subarray(0, 9)), "data"))).toBe("Incomplete")
  })

  it("rejects a data length too small to hold codec id and counts", () => {
    const tiny = withCrc(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 2, 0x08, 0x00, 0, 0, 0, 0))
    expect(failureTag(decodeTcpFrame(tiny, "data"))).toBe("LengthMismatch")
  })
})

describe("AVL structure checks", () => {
  const single = encodeTcpAvl(CODEC_8, [record()])

  it("RecordCountMismatch when the two counts differ", () => {
    const bad = Uint8Array.from(single)
    bad[bad.length - 5] = 2
    expect(failureTag(decodeTcpFrame(withCrc(bad), "data"))).toBe("RecordCountMismatch")
  })

  it("LengthMismatch when the data field has bytes after the second count", () => {
    const data = encodeAvlData(CODEC_8, [record()])
    const padded = concat(data, Uint8Array.of(0))
    const frame = new Uint8Array(12 + padded.length)
    new DataView(frame.buffer).setUint32(4, padded.length)
    frame.set(padded, 8)
    expect(failureTag(decodeTcpFrame(withCrc(frame), "data"))).toBe("LengthMismatch")
  })

  it("strict mode checks the declared IO total, lenient mode does not", () => {
    const bad = Uint8Array.from(single)
    // Codec 8 record: 8 ts + 1 prio + 15 gps + 1 event id, then the 1-byte IO total.
    const totalAt = 8 + 2 + 8 + 1 + 15 + 1
    expect(bad[totalAt]).toBe(4)
    bad[totalAt] = 5
    const fixed = withCrc(bad)
    expect(Result.isSuccess(decodeTcpFrame(fixed, "data"))).toBe(true)
    expect(failureTag(decodeTcpFrame(fixed, "data", { strictIoTotal: true }))).toBe("IoCountMismatch")
  })

  it("BadTimestamp for a timestamp beyond 2^53-1 ms", () => {
    const bad = Uint8Array.from(single)
    bad[10] = 0xff
    expect(failureTag(decodeTcpFrame(withCrc(bad), "data"))).toBe("BadTimestamp")
  })

  it("keeps the edge values the corpus leaves to policy (priority 3, generation type 9)", () => {
    const frame = encodeTcpAvl(CODEC_16, [record({ priority: 3, generationType: 9 })])
    const decoded = frameOf(decodeTcpFrame(frame, "data"))
    expect(decoded).toMatchObject({ _tag: "Avl", records: [{ priority: 3, generationType: 9 }] })
  })

  it("decodeAvlData decodes a bare data field", () => {
    const data = encodeAvlData(CODEC_8E, [record()])
    const decoded = Result.getOrThrow(decodeAvlData(data))
    expect(decoded.codecId).toBe(CODEC_8E)
    expect(decoded.records).toStrictEqual([record()])
    expect(failureTag(decodeAvlData(Uint8Array.of(0x0c, 0, 0)))).toBe("UnsupportedCodec")
  })
})

describe("UDP", () => {
  const datagram = encodeUdpAvl({
    packetId: 0xbeef,
    avlPacketId: 9,
    imei: IMEI,
    codecId: CODEC_8E,
    records: [record()],
  })

  it("decodes header, records and builds the ack", () => {
    const decoded = Result.getOrThrow(decodeUdpDatagram(datagram))
    expect(decoded).toMatchObject({
      length: datagram.length - 2,
      packetId: 0xbeef,
      packetType: 1,
      avlPacketId: 9,
      imei: IMEI,
    })
    expect(decoded.records).toStrictEqual([record()])
    expect(toHex(decoded.ack)).toBe("0005beef010901")
  })

  it("requires the length field to match the datagram", () => {
    expect(failureTag(decodeUdpDatagram(datagram.subarray(0, datagram.length - 1)))).toBe("LengthMismatch")
    expect(failureTag(decodeUdpDatagram(concat(datagram, Uint8Array.of(0))))).toBe("LengthMismatch")
    expect(failureTag(decodeUdpDatagram(Uint8Array.of(0)))).toBe("UnexpectedEnd")
  })

  it("rejects command codecs", () => {
    const bad = Uint8Array.from(datagram)
    bad[2 + 2 + 1 + 1 + 2 + 15] = CODEC_12
    expect(failureTag(decodeUdpDatagram(bad))).toBe("UnsupportedCodec")
  })
})

describe("message frames (codecs 12–15)", () => {
  it("round-trips a Codec 12 command and keeps binary payloads textless", () => {
    const frame = encodeTcpMessages(CODEC_12, [{ type: 5, payload: new TextEncoder().encode("getinfo") }])
    expect(toHex(frame)).toBe("000000000000000f0c010500000007676574696e666f0100004312")
    const bin = frameOf(decodeTcpFrame(encodeTcpMessages(CODEC_12, [{ type: 13, payload: Uint8Array.of(0, 1) }])))
    expect(bin).toMatchObject({ _tag: "Message", messages: [{ type: 13, size: 2 }] })
    if (bin._tag === "Message") expect(bin.messages[0]?.text).toBeUndefined()
  })

  it("rejects a size smaller than the codec's prefix", () => {
    const frame = encodeTcpMessages(0x0d, [{ type: 5, timestampS: 1, payload: new Uint8Array(0) }])
    const bad = Uint8Array.from(frame)
    // Low byte of the 4-byte size field (header 8, codec 1, quantity 1, type 1, size bytes 11..14).
    bad[14] = 3
    expect(failureTag(decodeTcpFrame(withCrc(bad), "data"))).toBe("LengthMismatch")
  })
})

describe("encoder input checks", () => {
  it("throws RangeError for values the format cannot carry", () => {
    expect(() => encodeTcpAvl(CODEC_8, [record({ eventIoId: 300 })])).toThrow(RangeError)
    expect(() => encodeTcpAvl(CODEC_8, [record({ io: [{ id: 1, width: "x", bytes: new Uint8Array(1) }] })])).toThrow(
      RangeError,
    )
    expect(() => encodeTcpAvl(CODEC_16, [record()])).toThrow(RangeError)
    expect(() => encodeTcpAvl(CODEC_8E, [record({ io: [{ id: 1, width: 1, value: 256 }] })])).toThrow(RangeError)
    expect(() => encodeTcpAvl(CODEC_8E, [record({ altitude: 40_000 })])).toThrow(RangeError)
    expect(() => encodeImei("12345")).toThrow(RangeError)
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import {
  CODEC_8,
  CODEC_8E,
  CODEC_16,
  crc16,
  decodeAvlData,
  decodeTcpFrame,
  decodeTcpStream,
  decodeUdpDatagram,
  encodeImei,
  encodePing,
  encodeTcpAvl,
  encodeTcpMessages,
  encodeUdpAvl,
  isTeltonikaCodecError,
  type TcpExpect,
  type TcpFrame,
  TcpFrameDecoder,
  type TeltonikaCodecError,
  type UdpAvlDatagram,
} from "../../../src/gateway/codec/index.ts"
import { IMEI, prng, record } from "./fixtures.ts"
import { fromHex, loadVectors } from "./vectors.ts"

/*
 * Every decoder must turn any input into a frame or one of the typed errors: never throw, never
 * spin, never hold more than a frame's worth of bytes. Seeds and iteration counts are fixed, so a
 * failure reproduces exactly.
 */

const MAX_FRAME = 2048
const MODES: ReadonlyArray<TcpExpect> = ["login", "data", "any"]

const seeds: ReadonlyArray<Uint8Array> = [
  ...loadVectors().map((v) => fromHex(v.hex)),
  encodeImei(IMEI),
  encodePing(),
  encodeTcpAvl(CODEC_8, [record(), record({ eventIoId: 1 })]),
  encodeTcpAvl(CODEC_8E, [record({ io: [...record().io, { id: 385, width: "x", bytes: Uint8Array.of(1, 2, 3) }] })]),
  encodeTcpAvl(CODEC_16, [record({ generationType: 5 })]),
  encodeTcpMessages(0x0f, [{ type: 0x0b, timestampS: 1_699_440_036, imei: IMEI, payload: Uint8Array.of(0x48, 0x69) }]),
  encodeUdpAvl({ packetId: 1, avlPacketId: 2, imei: IMEI, codecId: CODEC_8E, records: [record()] }),
  encodeUdpAvl({
    packetId: 3,
    avlPacketId: 4,
    imei: IMEI,
    codecId: CODEC_16,
    records: [record({ generationType: 1 })],
  }),
]

const expectTyped = <A>(r: Result.Result<A, TeltonikaCodecError>): void => {
  if (Result.isFailure(r)) expect(isTeltonikaCodecError(r.failure)).toBe(true)
}

/** A decoded AVL frame must survive re-encoding and decode to the same records. */
const expectStable = (f: TcpFrame | UdpAvlDatagram): void => {
  if (f._tag !== "Avl") return
  const again = Result.getOrThrow(decodeTcpFrame(encodeTcpAvl(f.codecId, f.records), "data"))
  expect(again._tag === "Avl" ? again.records : undefined).toStrictEqual(f.records)
}

const runAllDecoders = (bytes: Uint8Array, rand: () => number): void => {
  const strictIoTotal = rand() < 0.5
  for (const mode of MODES) {
    const r = decodeTcpFrame(bytes, mode, { maxFrameSize: MAX_FRAME, strictIoTotal })
    expectTyped(r)
    if (Result.isSuccess(r)) expectStable(r.success)
  }
  expectTyped(decodeTcpStream(bytes, "any", { maxFrameSize: MAX_FRAME }))
  const udp = decodeUdpDatagram(bytes, { strictIoTotal })
  expectTyped(udp)
  if (Result.isSuccess(udp)) expectStable(udp.success)
  expectTyped(decodeAvlData(bytes, { strictIoTotal }))
  streamInRandomChunks(bytes, rand)
}

const streamInRandomChunks = (bytes: Uint8Array, rand: () => number): void => {
  const decoder = new TcpFrameDecoder({ maxFrameSize: MAX_FRAME })
  let calls = 0
  let pushes = 0
  let off = 0
  while (off < bytes.length) {
    const size = 1 + Math.floor(rand() * 40)
    decoder.push(bytes.subarray(off, off + size))
    pushes++
    off += size
    for (;;) {
      calls++
      // A success consumes at least one byte and anything else ends the drain, so this bounds the loop.
      expect(calls).toBeLessThanOrEqual(bytes.length + pushes)
      const next = decoder.next(MODES[Math.floor(rand() * MODES.length)] ?? "any")
      if (next === undefined) break
      expectTyped(next)
      if (Result.isFailure(next)) {
        expect(decoder.buffered).toBe(0)
        return
      }
    }
    // Whatever is held is an incomplete frame, which by then is known to fit the limit.
    expect(decoder.buffered).toBeLessThan(MAX_FRAME)
  }
}

const recomputeTcpCrc = (bytes: Uint8Array): void => {
  if (bytes.length < 12) return
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const len = view.getUint32(4)
  if (8 + len + 4 === bytes.length) view.setUint32(8 + len, crc16(bytes, 8, 8 + len))
}

const mutate = (seed: Uint8Array, rand: () => number): Uint8Array => {
  const pick = (n: number): number => Math.floor(rand() * n)
  let out = Uint8Array.from(seed)
  switch (pick(6)) {
    case 0: {
      const flips = 1 + pick(4)
      for (let i = 0; i < flips && out.length > 0; i++) {
        const at = pick(out.length)
        out[at] = (out[at] ?? 0) ^ (1 << pick(8))
      }
      break
    }
    case 1:
      out = out.subarray(0, pick(out.length + 1))
      break
    case 2: {
      // Length fields: TCP data length (bytes 4..7), UDP length (0..1), IMEI length (0..1).
      const view = new DataView(out.buffer)
      if (out.length >= 8 && rand() < 0.6) {
        const len = view.getUint32(4)
        const delta = [1, -1, 2, -3, 256, -256][pick(6)] ?? 1
        view.setUint32(4, rand() < 0.5 ? (len + delta) >>> 0 : Math.floor(rand() * 0x1_0000_0000))
      } else if (out.length >= 2) {
        view.setUint16(0, rand() < 0.5 ? (view.getUint16(0) + 1) & 0xffff : pick(0x10000))
      }
      break
    }
    case 3: {
      const at = pick(out.length + 1)
      const extra = Uint8Array.from({ length: 1 + pick(8) }, () => pick(256))
      const grown = new Uint8Array(out.length + extra.length)
      grown.set(out.subarray(0, at))
      grown.set(extra, at)
      grown.set(out.subarray(at), at + extra.length)
      out = grown
      break
    }
    case 4: {
      const at = pick(out.length + 1)
      const n = 1 + pick(8)
      out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + n)])
      break
    }
    default: {
      // Counts and ids live in single bytes; saturating one misaligns everything after it.
      if (out.length > 0) out[pick(out.length)] = [0x00, 0xff, 0x7f, 0x80][pick(4)] ?? 0xff
    }
  }
  // Half the time repair the CRC so the mutation reaches the record parser instead of the CRC check.
  if (rand() < 0.5) recomputeTcpCrc(out)
  return out
}

describe("fuzz: decoders only ever return frames or typed errors", () => {
  it("random bytes", () => {
    const rand = prng(0xc0dec)
    for (let i = 0; i < 1500; i++) {
      const len = Math.floor(rand() * 300)
      const bytes = Uint8Array.from({ length: len }, () => Math.floor(rand() * 256))
      // Bias some inputs towards plausible headers so they get past the first byte.
      if (len >= 8 && rand() < 0.5) {
        bytes.fill(0, 0, 4)
        new DataView(bytes.buffer).setUint32(4, Math.floor(rand() * (len + 16)))
        if (rand() < 0.7) bytes[8] = [0x08, 0x8e, 0x10, 0x0c, 0x0d, 0x0e, 0x0f][Math.floor(rand() * 7)] ?? 0x08
        recomputeTcpCrc(bytes)
      }
      runAllDecoders(bytes, rand)
    }
  })

  it("mutated valid frames (bit flips, truncation, length corruption, insertions, deletions)", () => {
    const rand = prng(0x7e170)
    for (let i = 0; i < 4000; i++) {
      const seed = seeds[Math.floor(rand() * seeds.length)] ?? encodePing()
      let bytes = mutate(seed, rand)
      if (rand() < 0.3) bytes = mutate(bytes, rand)
      runAllDecoders(bytes, rand)
    }
  })

  it("an endless stream of garbage or oversized headers never grows the buffer", () => {
    const rand = prng(42)
    for (let i = 0; i < 200; i++) {
      const decoder = new TcpFrameDecoder({ maxFrameSize: MAX_FRAME })
      for (let k = 0; k < 50; k++) {
        const chunk = Uint8Array.from({ length: 1 + Math.floor(rand() * 64) }, () =>
          rand() < 0.7 ? 0 : Math.floor(rand() * 256),
        )
        decoder.push(chunk)
        let next = decoder.next("data")
        while (next !== undefined && Result.isSuccess(next)) next = decoder.next("data")
        expect(decoder.buffered).toBeLessThan(MAX_FRAME)
        if (next !== undefined) break
      }
    }
  })
})

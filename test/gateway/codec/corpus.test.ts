import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import {
  decodeTcpFrame,
  decodeTcpStream,
  decodeUdpDatagram,
  encodeAvlData,
  encodeImei,
  encodePing,
  encodeTcpAvl,
  encodeTcpMessages,
  encodeUdpAvl,
  type TcpDecodeOptions,
  type TcpExpect,
  type TcpFrame,
  TcpFrameDecoder,
  type TeltonikaCodecError,
  toHex,
  type UdpAvlDatagram,
} from "../../../src/gateway/codec/index.ts"
import {
  acceptedErrors,
  comparableExpect,
  expectedFrames,
  frameShape,
  fromHex,
  loadVectors,
  type Vector,
} from "./vectors.ts"

const vectors = loadVectors()

const tcpExpect = (v: Vector): TcpExpect => (v.codec === "login" || v.options?.stream === true ? "login" : "data")

const optionsFor = (v: Vector): TcpDecodeOptions => ({ strictIoTotal: v.options?.strict_io_total === true })

type Decoded = ReadonlyArray<TcpFrame | UdpAvlDatagram>

const decodeWhole = (v: Vector, options: TcpDecodeOptions): Result.Result<Decoded, TeltonikaCodecError> => {
  const bytes = fromHex(v.hex)
  if (v.transport === "udp") return Result.map(decodeUdpDatagram(bytes, options), (d) => [d])
  if (v.options?.stream === true) return decodeTcpStream(bytes, tcpExpect(v), options)
  return Result.map(decodeTcpFrame(bytes, tcpExpect(v), options), (f) => [f])
}

interface StreamOutcome {
  readonly frames: Array<TcpFrame>
  readonly error: TeltonikaCodecError | undefined
  readonly buffered: number
}

/** Feeds chunks the way the gateway will: push one, drain `next`, switch to data after a login. */
const streamChunks = (
  chunks: ReadonlyArray<Uint8Array>,
  expect: TcpExpect,
  options: TcpDecodeOptions,
): StreamOutcome => {
  const decoder = new TcpFrameDecoder(options)
  const frames: Array<TcpFrame> = []
  let mode = expect
  for (const chunk of chunks) {
    decoder.push(chunk)
    for (;;) {
      const next = decoder.next(mode)
      if (next === undefined) break
      if (Result.isFailure(next)) return { frames, error: next.failure, buffered: decoder.buffered }
      frames.push(next.success)
      if (next.success._tag === "Imei" && mode === "login") mode = "data"
    }
  }
  return { frames, error: undefined, buffered: decoder.buffered }
}

const splits = (bytes: Uint8Array): Array<ReadonlyArray<Uint8Array>> => {
  const out: Array<ReadonlyArray<Uint8Array>> = []
  for (let i = 0; i <= bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)])
  out.push(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))
  return out
}

const reencode = (f: TcpFrame | UdpAvlDatagram): Uint8Array => {
  switch (f._tag) {
    case "Ping":
      return encodePing()
    case "Imei":
      return encodeImei(f.imei)
    case "Avl":
      return encodeTcpAvl(f.codecId, f.records)
    case "Message":
      return encodeTcpMessages(f.codecId, f.messages)
    case "UdpAvl":
      return encodeUdpAvl(f)
  }
}

const recordsOf = (f: TcpFrame | UdpAvlDatagram) => (f._tag === "Avl" || f._tag === "UdpAvl" ? f.records : [])

describe("Teltonika corpus (test/fixtures/teltonika-vectors.json)", () => {
  it("has the corpus", () => {
    expect(vectors.length).toBeGreaterThan(0)
  })

  for (const v of vectors.filter((x) => x.expect !== undefined)) {
    const run = v.options?.n16 === true ? it.skip : it
    describe(`valid ${v.id} (${v.transport} ${v.codec})`, () => {
      run("decodes to exactly the expected frames", () => {
        const decoded = decodeWhole(v, optionsFor(v))
        if (Result.isFailure(decoded)) throw new Error(`decode failed: ${decoded.failure.message}`)
        expect(decoded.success.map(frameShape)).toStrictEqual(expectedFrames(v).map(comparableExpect))
      })

      run("matches the derived record views (ISO time, degrees, declared IO total, record size)", () => {
        const decoded = Result.getOrThrow(decodeWhole(v, optionsFor(v)))
        decoded.forEach((frame, fi) => {
          const expected = (expectedFrames(v)[fi]?.records ?? []) as ReadonlyArray<Record<string, unknown>>
          recordsOf(frame).forEach((rec, ri) => {
            const e = expected[ri] ?? {}
            expect(rec.timestampMs).toBe(Date.parse(String(e.timestamp_iso)))
            expect(rec.longitude / 1e7).toBeCloseTo(Number(e.lon_deg), 9)
            expect(rec.latitude / 1e7).toBeCloseTo(Number(e.lat_deg), 9)
            expect(
              encodeAvlData(frame._tag === "Avl" || frame._tag === "UdpAvl" ? frame.codecId : 8, [rec]).length - 3,
            ).toBe(e.record_bytes)
            expect(rec.io.length).toBe(e.io_total_declared)
          })
        })
        // Every record's declared total matches, so strict mode must accept the vector as well.
        expect(Result.isSuccess(decodeWhole(v, { strictIoTotal: true }))).toBe(true)
      })

      run("re-encodes to the same bytes (golden encode)", () => {
        const decoded = Result.getOrThrow(decodeWhole(v, optionsFor(v)))
        expect(decoded.map((f) => toHex(reencode(f))).join("")).toBe(v.hex)
      })

      if (v.transport === "tcp") {
        run("streams identically when split at every byte boundary and byte by byte", () => {
          const bytes = fromHex(v.hex)
          const want = expectedFrames(v).map(comparableExpect)
          for (const chunks of splits(bytes)) {
            const out = streamChunks(chunks, tcpExpect(v), optionsFor(v))
            expect(out.error).toBeUndefined()
            expect(out.buffered).toBe(0)
            expect(out.frames.map(frameShape)).toStrictEqual(want)
          }
        })
      }
    })
  }

  for (const v of vectors.filter((x) => x.error !== undefined)) {
    const accepted = acceptedErrors(v)
    describe(`broken ${v.id} (${v.transport} ${v.codec})`, () => {
      it(`fails with ${accepted.join(" | ")}`, () => {
        const decoded = decodeWhole(v, optionsFor(v))
        if (Result.isSuccess(decoded)) throw new Error("decoded a broken vector")
        expect(accepted).toContain(decoded.failure._tag)
        expect(decoded.failure.message.length).toBeGreaterThan(0)
      })

      if (v.transport === "tcp") {
        it("fails the same way (or keeps waiting, for Incomplete) at every split", () => {
          const bytes = fromHex(v.hex)
          for (const chunks of splits(bytes)) {
            const out = streamChunks(chunks, tcpExpect(v), optionsFor(v))
            expect(out.frames).toEqual([])
            if (out.error === undefined) {
              expect(accepted).toContain("Incomplete")
              expect(out.buffered).toBe(bytes.length)
            } else {
              expect(accepted).toContain(out.error._tag)
            }
          }
        })
      }
    })
  }
})

import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { decodeEntry } from "../../src/decoder/Decoder.ts"
import { CODEC_8, CODEC_8E, CODEC_16, decodeTcpFrame, encodeTcpAvl, isImei } from "../../src/gateway/codec/index.ts"
import { toEntry } from "../../src/gateway/toEntry.ts"
import { isLuhnValid, makeRandom, pickCodec, simulatedImei, VirtualDevice } from "../../src/simulator/index.ts"

describe("simulated IMEIs", () => {
  it("are 15 digits with a valid Luhn check digit", () => {
    expect(isLuhnValid("490154203237518")).toBe(true)
    expect(isLuhnValid("490154203237517")).toBe(false)
    for (const i of [0, 1, 999_999, 1_000_000, 3_999_999]) {
      const imei = simulatedImei(i, 123_456)
      expect(isImei(imei)).toBe(true)
      expect(isLuhnValid(imei)).toBe(true)
    }
  })

  it("are unique within a fleet", () => {
    const imeis = new Set(Array.from({ length: 20_000 }, (_, i) => simulatedImei(i * 97, 777)))
    expect(imeis.size).toBe(20_000)
  })
})

describe("VirtualDevice", () => {
  it.each([
    ["8", CODEC_8],
    ["8E", CODEC_8E],
    ["16", CODEC_16],
  ] as const)("Codec %s records encode, decode and become valid stream entries", (_, codecId) => {
    const random = makeRandom(42)
    const device = new VirtualDevice({ imei: simulatedImei(7), codecId }, random)
    let t = 1_700_000_000_000
    let previousTs = 0
    for (let packet = 0; packet < 200; packet++) {
      const records = Array.from({ length: 1 + (packet % 4) }, () => {
        t += 700
        return device.sample(t)
      })
      const decoded = decodeTcpFrame(encodeTcpAvl(codecId, records), "data")
      if (Result.isFailure(decoded) || decoded.success._tag !== "Avl") throw new Error("packet did not decode")
      for (const r of decoded.success.records) {
        // Strictly increasing per device: the processor keys positions by (device, ts).
        expect(r.timestampMs).toBeGreaterThan(previousTs)
        previousTs = r.timestampMs
        expect(r.generationType !== undefined).toBe(codecId === CODEC_16)
        const entry = decodeEntry({ id: "1-0", fields: toEntry(r, device.imei, "tcp", t) })
        if (Result.isFailure(entry)) throw new Error(entry.failure.reason)
        expect(entry.success.speed).toBeLessThanOrEqual(140)
      }
    }
  })

  it("keeps timestamps unique even when sampled twice in one millisecond or out of order", () => {
    const device = new VirtualDevice({ imei: simulatedImei(1), codecId: CODEC_8E }, makeRandom(1))
    const ts = [1000, 1000, 1000.5, 999, 2000].map((t) => device.sample(t).timestampMs)
    expect(ts).toEqual([1000, 1001, 1002, 1003, 2000])
  })

  it("moves: a driving vehicle's position changes over time", () => {
    const device = new VirtualDevice({ imei: simulatedImei(2), codecId: CODEC_8E }, makeRandom(9))
    const positions = new Set<string>()
    for (let i = 0; i < 300; i++) {
      const r = device.sample(1_700_000_000_000 + i * 10_000)
      positions.add(`${r.latitude},${r.longitude}`)
    }
    expect(positions.size).toBeGreaterThan(50)
  })

  it("picks codecs by weight", () => {
    const random = makeRandom(5)
    const counts = new Map<number, number>()
    for (let i = 0; i < 10_000; i++) {
      const codec = pickCodec(random, { codec8E: 0.8, codec8: 0.1, codec16: 0.1 })
      counts.set(codec, (counts.get(codec) ?? 0) + 1)
    }
    expect(counts.get(CODEC_8E)).toBeGreaterThan(7_000)
    expect(counts.get(CODEC_8)).toBeGreaterThan(500)
    expect(counts.get(CODEC_16)).toBeGreaterThan(500)
  })
})

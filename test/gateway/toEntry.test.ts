import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { decodeEntry } from "../../src/decoder/Decoder.ts"
import {
  type AvlRecord,
  decodeTcpFrame,
  decodeUdpDatagram,
  ioValue,
  type TcpFrame,
  type UdpAvlDatagram,
} from "../../src/gateway/codec/index.ts"
import { toEntry, toPayloadJson } from "../../src/gateway/toEntry.ts"
import { record as fixtureRecord, IMEI } from "./codec/fixtures.ts"
import { fromHex, loadVectors } from "./codec/vectors.ts"

/** The shared fixture record with the widest IO set: values at each width's edge, and bytes. */
const record = (overrides: Partial<AvlRecord> = {}): AvlRecord =>
  fixtureRecord({
    io: [
      { id: 239, width: 1, value: 1 },
      { id: 66, width: 2, value: 12_345 },
      { id: 241, width: 4, value: 4_294_967_295 },
      { id: 16, width: 8, value: 9_007_199_254_740_991n },
      { id: 78, width: 8, value: 0xfedc_ba98_7654_3210n },
      { id: 385, width: "x", bytes: Uint8Array.of(1, 2, 3, 250) },
    ],
    ...overrides,
  })

describe("toEntry", () => {
  it("writes the SPEC §5 fields, in order", () => {
    const fields = toEntry(record(), IMEI, "tcp", 1_700_000_000_999)
    expect(fields).toHaveLength(6)
    expect([fields[0], fields[2], fields[3], fields[4], fields[5]]).toEqual([
      "payload",
      "received_at",
      "1700000000999",
      "source",
      "teltonika-tcp",
    ])
    expect(toEntry(record(), IMEI, "udp", 1)[5]).toBe("teltonika-udp")
  })

  it("maps every record field as SPEC §5 says", () => {
    const payload = JSON.parse(toPayloadJson(record(), IMEI))
    expect(payload).toStrictEqual({
      device_id: IMEI,
      ts: 1_700_000_000_123,
      lat: -54.667425,
      lon: 25.2560283,
      altitude: -12,
      angle: 248,
      speed: 87,
      satellites: 11,
      priority: 1,
      event_id: 239,
      attributes: {
        "239": 1,
        "66": 12_345,
        "241": 4_294_967_295,
        // 2^53-1 still fits a JSON number exactly; one above it would not.
        "16": 9_007_199_254_740_991,
        "78": { $bigint: "18364758544493064720" },
        "385": { $bytes: "AQID+g==" },
      },
    })
  })

  it("adds generation_type for Codec 16 records and nothing for others", () => {
    expect(JSON.parse(toPayloadJson(record({ generationType: 5 }), IMEI)).attributes.generation_type).toBe(5)
    expect("generation_type" in JSON.parse(toPayloadJson(record(), IMEI)).attributes).toBe(false)
  })

  it("writes an empty attribute object for a record without IO elements", () => {
    expect(JSON.parse(toPayloadJson(record({ io: [] }), IMEI)).attributes).toStrictEqual({})
  })

  it("produces entries the processor's decoder accepts, with the same values", () => {
    const fields = toEntry(record({ generationType: 0 }), IMEI, "tcp", 1_700_000_001_000)
    const decoded = decodeEntry({ id: "1-0", fields })
    expect(Result.isSuccess(decoded)).toBe(true)
    const position = Result.getOrThrow(decoded)
    expect(position).toMatchObject({
      deviceId: IMEI,
      tsMs: 1_700_000_000_123,
      lat: -54.667425,
      lon: 25.2560283,
      altitude: -12,
      angle: 248,
      speed: 87,
      satellites: 11,
      priority: 1,
      eventId: 239,
      receivedAtMs: 1_700_000_001_000,
    })
    const attributes = JSON.parse(position.attributesJson)
    expect(attributes["78"]).toStrictEqual({ $bigint: "18364758544493064720" })
    expect(attributes["385"]).toStrictEqual({ $bytes: "AQID+g==" })
    expect(attributes.generation_type).toBe(0)
  })

  it("handles the extremes of every field", () => {
    const extreme = record({
      timestampMs: 0,
      longitude: -1_800_000_000,
      latitude: 900_000_000,
      altitude: -32_768,
      angle: 65_535,
      satellites: 255,
      speed: 65_535,
      priority: 255,
      eventIoId: 65_535,
      io: [
        { id: 65_535, width: 8, value: 0xffff_ffff_ffff_ffffn },
        { id: 0, width: 8, value: 0n },
        { id: 1, width: "x", bytes: new Uint8Array(0) },
      ],
    })
    const position = Result.getOrThrow(decodeEntry({ id: "1-0", fields: toEntry(extreme, IMEI, "tcp", 0) }))
    expect(position.lat).toBe(90)
    expect(position.lon).toBe(-180)
    expect(JSON.parse(position.attributesJson)).toStrictEqual({
      "65535": { $bigint: "18446744073709551615" },
      "0": 0,
      "1": { $bytes: "" },
    })
  })

  describe("every AVL record of the shared corpus", () => {
    const avlRecords: Array<{ id: string; records: ReadonlyArray<AvlRecord>; imei: string }> = []
    for (const v of loadVectors()) {
      if (v.expect === undefined || v.expect.frame !== "avl" || v.options?.stream === true) continue
      const bytes = fromHex(v.hex)
      const decoded: Result.Result<TcpFrame | UdpAvlDatagram, unknown> =
        v.transport === "udp"
          ? decodeUdpDatagram(bytes, { strictIoTotal: v.options?.strict_io_total === true })
          : decodeTcpFrame(bytes, "data", { strictIoTotal: v.options?.strict_io_total === true })
      if (Result.isFailure(decoded)) continue
      const frame: TcpFrame | UdpAvlDatagram = decoded.success
      if (frame._tag === "UdpAvl") avlRecords.push({ id: v.id, records: frame.records, imei: frame.imei })
      else if (frame._tag === "Avl") avlRecords.push({ id: v.id, records: frame.records, imei: IMEI })
    }

    it("finds AVL vectors to check", () => {
      expect(avlRecords.length).toBeGreaterThan(5)
    })

    it.each(avlRecords)("$id", ({ records, imei }) => {
      for (const r of records) {
        const fields = toEntry(r, imei, "tcp", 1_700_000_000_000)
        const payload = JSON.parse(fields[1] as string)
        expect(payload.device_id).toBe(imei)
        expect(payload.ts).toBe(r.timestampMs)
        expect(payload.lat).toBe(r.latitude / 1e7)
        expect(payload.lon).toBe(r.longitude / 1e7)
        expect(payload.event_id).toBe(r.eventIoId)
        for (const el of r.io) {
          const value = payload.attributes[String(el.id)]
          if (el.width === "x") expect(value).toStrictEqual({ $bytes: Buffer.from(el.bytes).toString("base64") })
          else {
            const v = ioValue(el)
            expect(value).toStrictEqual(typeof v === "bigint" ? { $bigint: v.toString() } : v)
          }
        }
        // Corpus coordinates can be out of range (zeroed or test data); those the processor rightly
        // dead-letters. Every in-range record must decode.
        if (Math.abs(payload.lat) <= 90 && Math.abs(payload.lon) <= 180) {
          const decoded = decodeEntry({ id: "1-0", fields })
          if (Result.isFailure(decoded)) throw new Error(decoded.failure.reason)
          expect(decoded.success.tsMs).toBe(r.timestampMs)
        }
      }
    })
  })
})

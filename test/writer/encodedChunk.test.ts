import * as PgTypes from "@effect/sql-pg/PgTypes"
import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { generate } from "../../bench/data.ts"
import { EntryBlock } from "../../src/consumer/EntryBlock.ts"
import { BinaryArrayWriter, EncodedArray, encodedArraysRegistry } from "../../src/db/encodedArrays.ts"
import { decodeBlock } from "../../src/decoder/Decoder.ts"
import { deviceKeyOf, type Position } from "../../src/domain/Position.ts"
import { inOrder, PositionBatch } from "../../src/domain/PositionBatch.ts"
import { makeRandom } from "../../src/simulator/random.ts"
import { decodeChunk, encodeRows } from "../../src/writer/encodedChunk.ts"
import { NO_RECEIVED_AT, sortOrder, toColumns } from "../../src/writer/positionColumns.ts"
import { entryFields } from "../support/entries.ts"

/** positions[from, to) through a batch of them, as the Writer encodes a chunk. */
const encodeChunk = (positions: ReadonlyArray<Position>, from = 0, to = positions.length) =>
  encodeRows(PositionBatch.of(positions), inOrder(positions.length), from, to)

const random = makeRandom(7)
const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random.next() * xs.length)] as A

/** Texts that take each of the encoder's paths: short ASCII (the loop), long ASCII, multi-byte,
 * astral (surrogate pairs), a lone surrogate, the empty string, and one longer than the buffer's
 * first size. */
const texts = [
  "352093081230001",
  "truck-7",
  "",
  "Vilnius–Kaunas ąčęėįšųūž",
  "🚚 fleet 🚛",
  "lone \ud800 surrogate",
  `{"21":3,"66":12345,"78":{"$bigint":"18446744073709551615"},"note":"${"x".repeat(200)}"}`,
  "ü".repeat(5_000),
]

const positionAt = (i: number): Position => {
  const deviceId = pick(texts.slice(0, 6))
  return {
    streamId: `${1_700_000_000_000 + i}-${i % 3}`,
    deviceId,
    deviceKey: deviceKeyOf(deviceId),
    tsMs: 1_700_000_000_000 + Math.floor(random.next() * 1e9),
    lat: (random.next() - 0.5) * 180,
    lon: (random.next() - 0.5) * 360,
    altitude: Math.floor(random.next() * 10_000) - 500,
    angle: Math.floor(random.next() * 360),
    speed: random.next() < 0.5 ? Math.floor(random.next() * 200) : random.next() * 200,
    satellites: Math.floor(random.next() * 30),
    priority: Math.floor(random.next() * 3),
    eventId: Math.floor(random.next() * 65_536),
    attributesJson: pick(texts),
    receivedAtMs: random.next() < 0.3 ? null : 1_700_000_000_000 + i,
  }
}

const positions = Array.from({ length: 300 }, (_, i) => positionAt(i))

/** What the driver's own codec makes of `values` as an array of `elementOid`. */
const driverBytes = (values: ReadonlyArray<unknown>, elementOid: number): Uint8Array => {
  const arrayOid = PgTypes.arrayOidFor(elementOid)
  if (arrayOid === undefined) throw new Error(`no array type for ${elementOid}`)
  const encoded = PgTypes.encode(values, arrayOid)
  if (Result.isFailure(encoded)) throw encoded.failure
  return encoded.success
}

describe("encodeRows", () => {
  it("writes each column as the driver's own codec encodes the same values", () => {
    const chunk = encodeChunk(positions, 10, 260)
    const columns = toColumns(positions, 10, 260)
    const { text, float8 } = PgTypes.OID
    const expected: Array<[ReadonlyArray<unknown>, number]> = [
      [columns.deviceId, text],
      [columns.tsMs, float8],
      [columns.lat, float8],
      [columns.lon, float8],
      [columns.altitude, float8],
      [columns.angle, float8],
      [columns.speed, float8],
      [columns.satellites, float8],
      [columns.priority, float8],
      [columns.eventId, float8],
      [columns.attributes, text],
      [columns.streamId, text],
      [columns.receivedAtMs, float8],
    ]
    expect(chunk.rows).toBe(250)
    expect(chunk.arrays.length).toBe(expected.length)
    expected.forEach(([values, oid], c) => {
      expect(Buffer.from((chunk.arrays[c] as EncodedArray).bytes)).toEqual(Buffer.from(driverBytes(values, oid)))
    })
  })

  it("encodes rows decoded in place from a reply, in write order, as the driver encodes their values", () => {
    const data = generate({ entries: 1_200, devices: 50, resendRate: 0.01, seed: 3 })
    const block = EntryBlock.of(data.payloads.map((payload, i) => ({ id: `${i + 1}-0`, fields: entryFields(payload) })))
    const { positions: batch } = decodeBlock(block)
    expect(batch.inExtra.subarray(0, batch.length).every((inExtra) => inExtra === 0)).toBe(true)
    const order = sortOrder(batch)
    const chunk = encodeRows(batch, order, 100, 1_100)
    const sorted = order.map((row) => batch.position(row))
    const columns = toColumns(sorted, 100, 1_100)
    expect(chunk.arrays.map((array) => Buffer.from(array.bytes))).toEqual(
      chunk.arrays.map((array, c) =>
        Buffer.from(driverBytes(Object.values(columns)[c] as ReadonlyArray<unknown>, array.elementOid)),
      ),
    )
  })

  it("decodes back to the positions it was given (a lone surrogate as U+FFFD, as PostgreSQL gets it)", () => {
    const decoded = decodeChunk(encodeChunk(positions))
    const sent = positions.map((p) => ({
      ...p,
      deviceId: p.deviceId.replace("\ud800", "\ufffd"),
      deviceKey: deviceKeyOf(p.deviceId.replace("\ud800", "\ufffd")),
      attributesJson: p.attributesJson.replace("\ud800", "\ufffd"),
    }))
    expect(decoded).toEqual(sent)
    expect(decoded.filter((p) => p.receivedAtMs === null).length).toBeGreaterThan(0)
  })

  it("an empty chunk is one of empty arrays", () => {
    const chunk = encodeChunk([])
    expect(chunk.rows).toBe(0)
    expect(decodeChunk(chunk)).toEqual([])
    expect(Buffer.from((chunk.arrays[0] as EncodedArray).bytes)).toEqual(Buffer.from(driverBytes([], PgTypes.OID.text)))
  })

  it("the received_at marker parameter is the value written for a missing one", () => {
    const chunk = encodeChunk([{ ...(positions[0] as Position), receivedAtMs: null }])
    expect((chunk.parameters[0] as PgTypes.Parameter).value).toBe(NO_RECEIVED_AT)
  })
})

describe("BinaryArrayWriter", () => {
  it("refuses an array with fewer elements than announced", () => {
    const writer = new BinaryArrayWriter(16)
    writer.begin(PgTypes.OID.float8, 2)
    writer.float8(1)
    expect(() => writer.end()).toThrow("1 element(s) missing")
  })

  it("grows past its first size without changing arrays already written", () => {
    const writer = new BinaryArrayWriter(8)
    writer.begin(PgTypes.OID.text, 1)
    writer.text("first")
    writer.end()
    writer.begin(PgTypes.OID.text, 2)
    writer.text("é".repeat(1_000))
    writer.text("third")
    writer.end()
    const [first, second] = writer.finish()
    expect(Buffer.from((first as EncodedArray).bytes)).toEqual(Buffer.from(driverBytes(["first"], PgTypes.OID.text)))
    expect(Buffer.from((second as EncodedArray).bytes)).toEqual(
      Buffer.from(driverBytes(["é".repeat(1_000), "third"], PgTypes.OID.text)),
    )
  })
})

describe("encodedArraysRegistry", () => {
  it("sends an EncodedArray as it is and any other array as the driver does", () => {
    const registry = encodedArraysRegistry()
    const bytes = driverBytes(["a", "b"], PgTypes.OID.text)
    const passed = PgTypes.encode(new EncodedArray(PgTypes.OID.text, bytes), PgTypes.OID.textArray, registry)
    expect(Result.isSuccess(passed) && Buffer.from(passed.success)).toEqual(Buffer.from(bytes))
    const plain = PgTypes.encode([1.5, 2], PgTypes.OID.float8Array, registry)
    expect(Result.isSuccess(plain) && Buffer.from(plain.success)).toEqual(
      Buffer.from(driverBytes([1.5, 2], PgTypes.OID.float8)),
    )
  })
})

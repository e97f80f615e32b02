import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { decodeEntry } from "../../src/decoder/Decoder.ts"
import { entry, validPayload } from "../support/entries.ts"

const ok = (payload: unknown) => {
  const result = decodeEntry(entry("1-0", payload))
  if (Result.isFailure(result)) throw new Error(`expected success, got ${result.failure.message}`)
  return result.success
}

const reasonOf = (fields: Array<string>) => {
  const result = decodeEntry({ id: "9-9", fields })
  if (Result.isSuccess(result)) throw new Error("expected a CodecError")
  expect(result.failure._tag).toBe("CodecError")
  expect(result.failure.entryId).toBe("9-9")
  return result.failure.reason
}

const payloadWithout = (key: string) => {
  const p: Record<string, unknown> = { ...validPayload("dev-1", 1_700_000_000_000) }
  delete p[key]
  return p
}

describe("decodeEntry", () => {
  it("decodes a SPEC §3.1 entry into a Position", () => {
    const p = ok(validPayload("352093081234567", 1_700_000_000_123))
    expect(p).toMatchObject({
      streamId: "1-0",
      deviceId: "352093081234567",
      tsMs: 1_700_000_000_123,
      lat: 54.687157,
      lon: 25.279652,
      altitude: 112,
      angle: 271,
      speed: 46,
      satellites: 11,
      priority: 1,
      eventId: 0,
      receivedAtMs: 1_700_000_000_500,
    })
  })

  it.each([
    ["ISO with Z", "2024-03-01T10:20:30.456Z", Date.UTC(2024, 2, 1, 10, 20, 30, 456)],
    ["ISO with offset", "2024-03-01T12:20:30+02:00", Date.UTC(2024, 2, 1, 10, 20, 30)],
    ["epoch ms", 1_709_288_430_000, 1_709_288_430_000],
  ])("accepts ts as %s", (_, ts, expected) => {
    expect(ok(validPayload("d", 0, { ts })).tsMs).toBe(expected)
  })

  it("keeps $bigint and $bytes attributes and turns Buffer JSON into $bytes", () => {
    const p = ok(
      validPayload("d", 1, {
        attributes: {
          "16": { $bigint: "18446744073709551615" },
          "385": { $bytes: "3q2+7w==" },
          "386": { type: "Buffer", data: [222, 173, 190, 239] },
          "1": true,
          "2": "text",
          generation_type: 2,
        },
      }),
    )
    expect(JSON.parse(p.attributesJson)).toEqual({
      "16": { $bigint: "18446744073709551615" },
      "385": { $bytes: "3q2+7w==" },
      "386": { $bytes: "3q2+7w==" },
      "1": true,
      "2": "text",
      generation_type: 2,
    })
    // The 64-bit value survives the JSON round trip the writer does, digit for digit.
    expect(JSON.parse(p.attributesJson)["16"]).toEqual({ $bigint: "18446744073709551615" })
  })

  it.each([
    ["no payload field", ["received_at", "1"], /missing field `payload`/],
    ["payload not JSON", ["payload", "{not json"], /not JSON/],
    ["payload a JSON array", ["payload", "[1,2]"], /Expected/],
    ["lat 999", ["payload", JSON.stringify(validPayload("d", 1, { lat: 999 }))], /lat/],
    ["lon -181", ["payload", JSON.stringify(validPayload("d", 1, { lon: -181 }))], /lon/],
    ["device_id empty", ["payload", JSON.stringify(validPayload("", 1))], /device_id/],
    ["device_id 65 chars", ["payload", JSON.stringify(validPayload("x".repeat(65), 1))], /device_id/],
    ["device_id a number", ["payload", JSON.stringify(validPayload("d", 1, { device_id: 123 }))], /device_id/],
    ["satellites fractional", ["payload", JSON.stringify(validPayload("d", 1, { satellites: 7.5 }))], /satellites/],
    ["speed a string", ["payload", JSON.stringify(validPayload("d", 1, { speed: "50" }))], /speed/],
    ["ts without zone", ["payload", JSON.stringify(validPayload("d", 1, { ts: "2024-03-01T10:20:30" }))], /ts/],
    ["ts impossible date", ["payload", JSON.stringify(validPayload("d", 1, { ts: "2024-13-45T10:20:30Z" }))], /ts/],
    ["ts boolean", ["payload", JSON.stringify(validPayload("d", 1, { ts: true }))], /ts/],
    ["attributes missing", ["payload", JSON.stringify(payloadWithout("attributes"))], /attributes/],
    ["event_id missing", ["payload", JSON.stringify(payloadWithout("event_id"))], /event_id/],
    ["attribute key upper-case", ["payload", JSON.stringify(validPayload("d", 1, { attributes: { Foo: 1 } }))], /Foo/],
    [
      "attribute $bigint not decimal",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { $bigint: "12a" } } }))],
      /attributes/,
    ],
    [
      "attribute $bytes not base64",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { $bytes: "!!" } } }))],
      /attributes/,
    ],
    [
      "attribute Buffer byte 256",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { type: "Buffer", data: [256] } } }))],
      /attributes/,
    ],
    [
      "attribute nested object",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { a: 1 } } }))],
      /attributes/,
    ],
    ["huge payload", ["payload", JSON.stringify(validPayload("d", 1, { note: "x".repeat(70_000) }))], /more than/],
    [
      "huge attribute string",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": "y".repeat(5000) } }))],
      /attributes/,
    ],
    [
      "received_at not a number",
      ["payload", JSON.stringify(validPayload("d", 1)), "received_at", "soon"],
      /received_at/,
    ],
  ])("rejects %s with a CodecError naming the problem", (_, fields, reason) => {
    expect(reasonOf(fields as Array<string>)).toMatch(reason)
  })
})

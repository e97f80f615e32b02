import { describe, expect, it } from "@effect/vitest"
import { attributesText } from "../../src/decoder/attributesText.ts"
import { random, validPayload } from "../support/entries.ts"

const same = (raw: string) => {
  const text = attributesText(raw)
  if (text === undefined) return "declined"
  return JSON.stringify(JSON.parse(text)) === JSON.stringify(JSON.parse(raw).attributes) ? "same" : `differs: ${text}`
}

describe("attributesText", () => {
  it.each([
    '{"device_id":"a","attributes":{"1":2,"x":{"$bigint":"1"}},"ts":1}',
    '{ "attributes" : { "a" : [1, {"b": "}"}] } , "z": "\\"attributes\\":{}" }',
    '{"a":"x\\"y","attributes":{},"attributes":{"2":3}}',
    '{"device_id":"\\"attributes\\":{\\"1\\":1}","attributes":{"9":true}}',
    '{"x":[1,2,{"attributes":{}}],"attributes":{"k":null}}',
    '{"attributes":{"s":"a\\\\"},"t":2}',
  ])("finds the value JSON.parse would take in %s", (raw) => {
    expect(same(raw)).toBe("same")
  })

  it("declines when a top-level key is escaped (it might spell attributes)", () => {
    expect(attributesText('{"\\u0061ttributes":{"1":1}}')).toBeUndefined()
  })

  it("agrees with JSON.parse over generated payloads with awkward strings", () => {
    const next = random(7)
    const awkward = ['"', "\\", "}", "{", "]", "[", ",", ":", "attributes", " ", "\u00e9", "\u2028"]
    const pick = () => awkward[Math.floor(next() * awkward.length)] as string
    for (let i = 0; i < 2000; i++) {
      const attributes: Record<string, unknown> = {}
      for (let k = 0; k < 1 + Math.floor(next() * 5); k++) {
        attributes[String(Math.floor(next() * 300))] =
          next() < 0.5 ? pick() + pick() + pick() : Math.floor(next() * 1e6)
      }
      const payload = validPayload(`d${pick()}${pick()}`, i, { attributes, note: pick() + pick() })
      const raw = next() < 0.5 ? JSON.stringify(payload) : JSON.stringify(payload, null, 2)
      expect(same(raw), raw).toBe("same")
    }
  })
})

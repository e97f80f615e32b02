import { ATTRIBUTE_KEY, BASE64, DECIMAL, ISO_WITH_ZONE, type Payload } from "./PayloadSchema.ts"

/**
 * A hand-unrolled check that accepts exactly what `PayloadSchema` accepts, without allocating.
 * Schema decoding costs ~30 µs an entry, which caps a processor near 30k entries/s; this costs
 * ~1 µs. It only says yes or no: on no, the decoder asks the Schema for the precise reason.
 * test/decoder/fastPayload.test.ts holds the two to the same verdicts.
 */

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v)
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v)
const between = (v: unknown, min: number, max: number): boolean => isFiniteNumber(v) && v >= min && v <= max

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const onlyKeys = (o: Record<string, unknown>, count: number): boolean => {
  let n = 0
  for (const _ in o) n++
  return n === count
}

/** How an accepted attribute object stands: as it is, or with Node Buffer JSON to turn into $bytes. */
const PLAIN = 1
const HAS_BUFFER = 2

/** 0 when not an attribute value; PLAIN or HAS_BUFFER when it is. */
const attributeValue = (v: unknown): number => {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? PLAIN : 0
    case "boolean":
      return PLAIN
    case "string":
      return v.length <= 4096 ? PLAIN : 0
    case "object": {
      if (!isPlainObject(v)) return 0
      // Objects with extra keys are left to the Schema, which strips them; here they would be kept.
      if ("$bigint" in v) return onlyKeys(v, 1) && typeof v.$bigint === "string" && DECIMAL.test(v.$bigint) ? PLAIN : 0
      if ("$bytes" in v) return onlyKeys(v, 1) && typeof v.$bytes === "string" && BASE64.test(v.$bytes) ? PLAIN : 0
      if (v.type === "Buffer" && Array.isArray(v.data) && onlyKeys(v, 2)) {
        for (const byte of v.data) if (!isInt(byte) || byte < 0 || byte > 255) return 0
        return HAS_BUFFER
      }
      return 0
    }
    default:
      return 0
  }
}

/** IO ids repeat across every record of a fleet: a key seen valid once skips the regex after. */
const validKeys = new Set<string>()
const MAX_REMEMBERED_KEYS = 4096

const isAttributeKey = (key: string): boolean => {
  if (validKeys.has(key)) return true
  if (!ATTRIBUTE_KEY.test(key)) return false
  if (validKeys.size < MAX_REMEMBERED_KEYS) validKeys.add(key)
  return true
}

/** 0, PLAIN or HAS_BUFFER, for the whole attributes object. */
const attributes = (v: unknown): number => {
  if (!isPlainObject(v)) return 0
  let result = PLAIN
  for (const key in v) {
    if (!isAttributeKey(key)) return 0
    const value = attributeValue(v[key])
    if (value === 0) return 0
    result |= value
  }
  return result
}

export type PayloadCheck = "invalid" | "valid" | "valid-with-buffers"

/** "valid-with-buffers": accepted, with Node Buffer JSON attributes still to turn into $bytes. */
export const checkPayload = (v: unknown): PayloadCheck => {
  if (!isValidPayloadExceptAttributes(v)) return "invalid"
  const a = attributes(v.attributes)
  return a === 0 ? "invalid" : (a & HAS_BUFFER) === 0 ? "valid" : "valid-with-buffers"
}

export const isValidPayload = (v: unknown): v is Payload => checkPayload(v) !== "invalid"

const isValidPayloadExceptAttributes = (v: unknown): v is Payload => {
  if (!isPlainObject(v)) return false
  const id = v.device_id
  const ts = v.ts
  return (
    typeof id === "string" &&
    id.length >= 1 &&
    id.length <= 64 &&
    (typeof ts === "string" ? ISO_WITH_ZONE.test(ts) : between(ts, -8.64e15, 8.64e15)) &&
    between(v.lat, -90, 90) &&
    between(v.lon, -180, 180) &&
    isFiniteNumber(v.altitude) &&
    isFiniteNumber(v.angle) &&
    isFiniteNumber(v.speed) &&
    isInt(v.satellites) &&
    isInt(v.priority) &&
    isInt(v.event_id)
  )
}

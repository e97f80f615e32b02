import { type DeviceKey, deviceKeyOf, type Position } from "../domain/Position.ts"
import { BASE64 } from "./PayloadSchema.ts"

/**
 * The common payload decoded in one pass over its text, without `JSON.parse`: no object graph per
 * record, only the Position. `JSON.parse`, the payload check and the attributes-text scan cost ~3 µs
 * a record between them and left ~600 bytes of garbage; this is one loop over ~350 characters.
 *
 * It accepts a strict subset of what `JSON.parse` + `PayloadSchema` accept: an object with exactly
 * the eleven SPEC §3.1 keys, each once, unescaped, in any order, any JSON whitespace; `ts` as a
 * number; attribute values that are numbers without an exponent, booleans, strings without escapes,
 * `{"$bigint": …}` or `{"$bytes": …}`. For anything else it answers undefined and the decoder takes
 * the full path (`JSON.parse` and the Schema), which also names the reason when a payload is bad.
 * Whatever it accepts decodes to the same Position as the full path, field by field
 * (test/decoder/scanPayload.test.ts checks that on generated and mutated payloads).
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const LOWER_A = 0x61
const LOWER_Z = 0x7a
const UNDERSCORE = 0x5f

/** Exact powers of ten: m / 10^k with m < 2^53 and k ≤ 22 is one correctly rounded division, the
 * same double `JSON.parse` gives for the text. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k)

/** Digits a mantissa may have and stay below 2^53. */
const MAX_EXACT_DIGITS = 15
/** Without an exponent, a number this long or shorter is finite (the largest double has 309 digits). */
const MAX_ATTRIBUTE_NUMBER_DIGITS = 300
const MAX_DEVICE_ID = 64
const MAX_ATTRIBUTE_STRING = 4096
const MAX_ATTRIBUTE_KEY = 63
const MAX_IO_ID_DIGITS = 5
const MAX_BIGINT_DIGITS = 20

/** Every scanning step takes the index of the next character and returns the index after what it
 * read, or NOT_ACCEPTED: not in the common form. */
const NOT_ACCEPTED = -1

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

const skipSpace = (raw: string, i: number): number => {
  while (isSpace(raw.charCodeAt(i))) i++
  return i
}

/** At an opening quote: past the closing one. NOT_ACCEPTED for an escape, a control character (which
 * JSON.parse refuses) or no closing quote. */
const scanPlainString = (raw: string, i: number): number => {
  for (i++; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === QUOTE) return i + 1
    if (c === BACKSLASH || c < 0x20) return NOT_ACCEPTED
  }
  return NOT_ACCEPTED
}

// The parts of the number scanNumber last read. The scan is synchronous, so one set serves all.
let digits = 0
let mantissa = 0
let fractionDigits = 0
let hasExponent = false

/** Past a JSON number (RFC 8259 grammar), or NOT_ACCEPTED. */
const scanNumber = (raw: string, i: number): number => {
  let count = 0
  let value = 0
  let fraction = 0
  let exponent = false
  if (raw.charCodeAt(i) === MINUS) i++
  let c = raw.charCodeAt(i)
  if (c === ZERO) {
    i++
    count = 1
  } else if (c > ZERO && c <= NINE) {
    for (; c >= ZERO && c <= NINE; c = raw.charCodeAt(++i)) {
      if (count < MAX_EXACT_DIGITS) value = value * 10 + (c - ZERO)
      count++
    }
  } else return NOT_ACCEPTED
  if (raw.charCodeAt(i) === DOT) {
    const fractionStart = ++i
    for (c = raw.charCodeAt(i); c >= ZERO && c <= NINE; c = raw.charCodeAt(++i)) {
      if (count < MAX_EXACT_DIGITS) value = value * 10 + (c - ZERO)
      count++
    }
    fraction = i - fractionStart
    if (fraction === 0) return NOT_ACCEPTED
  }
  c = raw.charCodeAt(i)
  if (c === 0x65 || c === 0x45) {
    exponent = true
    c = raw.charCodeAt(++i)
    if (c === 0x2b || c === MINUS) i++
    const exponentStart = i
    for (c = raw.charCodeAt(i); c >= ZERO && c <= NINE; c = raw.charCodeAt(++i)) {}
    if (i === exponentStart) return NOT_ACCEPTED
  }
  digits = count
  mantissa = value
  fractionDigits = fraction
  hasExponent = exponent
  return i
}

/** The value of the number just scanned from `start` to `end`: exact arithmetic when it is small
 * enough to be, otherwise the engine's own conversion of the (already validated) text. */
const numberValue = (raw: string, start: number, end: number): number => {
  if (!hasExponent && digits <= MAX_EXACT_DIGITS && fractionDigits < POW10.length) {
    const magnitude = mantissa / (POW10[fractionDigits] as number)
    return raw.charCodeAt(start) === MINUS ? -magnitude : magnitude
  }
  return Number(raw.slice(start, end))
}

/** Whether [start, end) is an attribute key: an IO id or a lower-case name. */
const isAttributeKey = (raw: string, start: number, end: number): boolean => {
  const length = end - start
  if (length < 1) return false
  const first = raw.charCodeAt(start)
  if (first >= ZERO && first <= NINE) {
    if (length > MAX_IO_ID_DIGITS) return false
    for (let i = start + 1; i < end; i++) {
      const c = raw.charCodeAt(i)
      if (c < ZERO || c > NINE) return false
    }
    return true
  }
  if (first < LOWER_A || first > LOWER_Z || length > MAX_ATTRIBUTE_KEY) return false
  for (let i = start + 1; i < end; i++) {
    const c = raw.charCodeAt(i)
    if (!((c >= LOWER_A && c <= LOWER_Z) || (c >= ZERO && c <= NINE) || c === UNDERSCORE)) return false
  }
  return true
}

/** At `{` of a tagged value: past `{"$bigint": "<decimal>"}` or `{"$bytes": "<base64>"}`, nothing else. */
const scanTaggedValue = (raw: string, i: number): number => {
  i = skipSpace(raw, i + 1)
  const isBigint = raw.startsWith('"$bigint"', i)
  if (!isBigint && !raw.startsWith('"$bytes"', i)) return NOT_ACCEPTED
  i = skipSpace(raw, i + (isBigint ? 9 : 8))
  if (raw.charCodeAt(i) !== COLON) return NOT_ACCEPTED
  i = skipSpace(raw, i + 1)
  if (raw.charCodeAt(i) !== QUOTE) return NOT_ACCEPTED
  const start = i + 1
  i = scanPlainString(raw, i)
  if (i === NOT_ACCEPTED) return NOT_ACCEPTED
  const end = i - 1
  if (isBigint) {
    let d = start
    if (raw.charCodeAt(d) === MINUS) d++
    if (end - d < 1 || end - d > MAX_BIGINT_DIGITS) return NOT_ACCEPTED
    for (; d < end; d++) {
      const c = raw.charCodeAt(d)
      if (c < ZERO || c > NINE) return NOT_ACCEPTED
    }
  } else if (!BASE64.test(raw.slice(start, end))) return NOT_ACCEPTED
  i = skipSpace(raw, i)
  return raw.charCodeAt(i) === CLOSE_BRACE ? i + 1 : NOT_ACCEPTED
}

const scanAttributeValue = (raw: string, i: number): number => {
  const c = raw.charCodeAt(i)
  if (c === QUOTE) {
    const end = scanPlainString(raw, i)
    return end !== NOT_ACCEPTED && end - i - 2 <= MAX_ATTRIBUTE_STRING ? end : NOT_ACCEPTED
  }
  if (c === MINUS || (c >= ZERO && c <= NINE)) {
    const end = scanNumber(raw, i)
    return end !== NOT_ACCEPTED && !hasExponent && digits <= MAX_ATTRIBUTE_NUMBER_DIGITS ? end : NOT_ACCEPTED
  }
  if (c === 0x74) return raw.startsWith("true", i) ? i + 4 : NOT_ACCEPTED
  if (c === 0x66) return raw.startsWith("false", i) ? i + 5 : NOT_ACCEPTED
  if (c === OPEN_BRACE) return scanTaggedValue(raw, i)
  return NOT_ACCEPTED
}

/** At the attributes' `{`: past the object's closing `}`, or NOT_ACCEPTED. */
const scanAttributes = (raw: string, i: number): number => {
  if (raw.charCodeAt(i) !== OPEN_BRACE) return NOT_ACCEPTED
  i = skipSpace(raw, i + 1)
  if (raw.charCodeAt(i) === CLOSE_BRACE) return i + 1
  for (;;) {
    if (raw.charCodeAt(i) !== QUOTE) return NOT_ACCEPTED
    const keyStart = i + 1
    i = scanPlainString(raw, i)
    if (i === NOT_ACCEPTED || !isAttributeKey(raw, keyStart, i - 1)) return NOT_ACCEPTED
    i = skipSpace(raw, i)
    if (raw.charCodeAt(i) !== COLON) return NOT_ACCEPTED
    i = scanAttributeValue(raw, skipSpace(raw, i + 1))
    if (i === NOT_ACCEPTED) return NOT_ACCEPTED
    i = skipSpace(raw, i)
    const c = raw.charCodeAt(i)
    if (c === CLOSE_BRACE) return i + 1
    if (c !== COMMA) return NOT_ACCEPTED
    i = skipSpace(raw, i + 1)
  }
}

// One bit per SPEC §3.1 key, to see each exactly once.
const DEVICE_ID = 1
const TS = 2
const LAT = 4
const LON = 8
const ALTITUDE = 16
const ANGLE = 32
const SPEED = 64
const SATELLITES = 128
const PRIORITY = 256
const EVENT_ID = 512
const ATTRIBUTES = 1024
const ALL_KEYS = 2047

/** The key bit of the key text [start, start + length), or 0 for any other key. */
const keyBit = (raw: string, start: number, length: number): number => {
  switch (length) {
    case 2:
      return raw.startsWith("ts", start) ? TS : 0
    case 3:
      return raw.startsWith("lat", start) ? LAT : raw.startsWith("lon", start) ? LON : 0
    case 5:
      return raw.startsWith("angle", start) ? ANGLE : raw.startsWith("speed", start) ? SPEED : 0
    case 8:
      return raw.startsWith("altitude", start)
        ? ALTITUDE
        : raw.startsWith("priority", start)
          ? PRIORITY
          : raw.startsWith("event_id", start)
            ? EVENT_ID
            : 0
    case 9:
      return raw.startsWith("device_id", start) ? DEVICE_ID : 0
    case 10:
      return raw.startsWith("satellites", start) ? SATELLITES : raw.startsWith("attributes", start) ? ATTRIBUTES : 0
    default:
      return 0
  }
}

/**
 * The Position of a payload in the common form, or undefined: not in that form (the full path
 * decides, and names the reason if it is bad).
 */
export const scanPayload = (streamId: string, raw: string, receivedAtMs: number | null): Position | undefined => {
  let i = skipSpace(raw, 0)
  if (raw.charCodeAt(i) !== OPEN_BRACE) return undefined
  let seen = 0
  let deviceId = ""
  let deviceKey: DeviceKey = ""
  let tsMs = Number.NaN
  let lat = Number.NaN
  let lon = Number.NaN
  let altitude = Number.NaN
  let angle = Number.NaN
  let speed = Number.NaN
  let satellites = Number.NaN
  let priority = Number.NaN
  let eventId = Number.NaN
  let attributesJson = ""
  for (;;) {
    i = skipSpace(raw, i + 1)
    if (raw.charCodeAt(i) !== QUOTE) return undefined
    const keyStart = i + 1
    i = scanPlainString(raw, i)
    if (i === NOT_ACCEPTED) return undefined
    const bit = keyBit(raw, keyStart, i - 1 - keyStart)
    if (bit === 0 || (seen & bit) !== 0) return undefined
    seen |= bit
    i = skipSpace(raw, i)
    if (raw.charCodeAt(i) !== COLON) return undefined
    const start = skipSpace(raw, i + 1)
    if (bit === DEVICE_ID) {
      if (raw.charCodeAt(start) !== QUOTE) return undefined
      i = scanPlainString(raw, start)
      if (i === NOT_ACCEPTED || i - start - 2 < 1 || i - start - 2 > MAX_DEVICE_ID) return undefined
      deviceId = raw.slice(start + 1, i - 1)
      deviceKey = deviceKeyOf(deviceId)
    } else if (bit === ATTRIBUTES) {
      i = scanAttributes(raw, start)
      if (i === NOT_ACCEPTED) return undefined
      attributesJson = raw.slice(start, i)
    } else {
      i = scanNumber(raw, start)
      if (i === NOT_ACCEPTED) return undefined
      const value = numberValue(raw, start, i)
      switch (bit) {
        case TS:
          if (!(value >= -8.64e15 && value <= 8.64e15)) return undefined
          tsMs = value
          break
        case LAT:
          if (!(value >= -90 && value <= 90)) return undefined
          lat = value
          break
        case LON:
          if (!(value >= -180 && value <= 180)) return undefined
          lon = value
          break
        case ALTITUDE:
          altitude = value
          break
        case ANGLE:
          angle = value
          break
        case SPEED:
          speed = value
          break
        case SATELLITES:
          satellites = value
          break
        case PRIORITY:
          priority = value
          break
        default:
          eventId = value
      }
    }
    i = skipSpace(raw, i)
    const c = raw.charCodeAt(i)
    if (c === CLOSE_BRACE) break
    if (c !== COMMA) return undefined
  }
  if (skipSpace(raw, i + 1) !== raw.length || seen !== ALL_KEYS) return undefined
  if (!(Number.isFinite(altitude) && Number.isFinite(angle) && Number.isFinite(speed))) return undefined
  if (!(Number.isSafeInteger(satellites) && Number.isSafeInteger(priority) && Number.isSafeInteger(eventId))) {
    return undefined
  }
  return {
    streamId,
    deviceId,
    deviceKey,
    tsMs,
    lat,
    lon,
    altitude,
    angle,
    speed,
    satellites,
    priority,
    eventId,
    attributesJson,
    receivedAtMs,
  }
}

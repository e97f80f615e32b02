import {
  ALTITUDE,
  ANGLE,
  EVENT_ID,
  LAT,
  LON,
  NUMBER_COLUMNS,
  type PositionBatch,
  PRIORITY,
  SATELLITES,
  SPEED,
  TS,
} from "../domain/PositionBatch.ts"
import { BASE64 } from "./PayloadSchema.ts"

/**
 * The common payload decoded in one pass over its bytes, without `JSON.parse` and without a string:
 * the payload is a byte range of the stream reply, and its values go straight into a row of a
 * PositionBatch (numbers into the columns, the device id and the attributes as byte ranges of the
 * reply). `JSON.parse`, the payload check and the attributes-text scan cost ~3 µs a record between
 * them and left ~600 bytes of garbage; this is one loop over ~300 bytes that allocates nothing (but
 * a string for the rare number too long to compute exactly, or `$bytes` value to check).
 *
 * It accepts a strict subset of what `JSON.parse` + `PayloadSchema` accept: ASCII text (every byte
 * below 0x80, so that a byte offset is a character index and the length limits in characters hold
 * as they are; UTF-8 is the full path's), an object with exactly the eleven SPEC §3.1 keys, each
 * once, unescaped, in any order, any JSON whitespace; `ts` as a number; attribute values that are
 * numbers without an exponent, booleans, strings without escapes, `{"$bigint": …}` or
 * `{"$bytes": …}`. For anything else it answers false and the decoder takes the full path
 * (`JSON.parse` and the Schema), which also names the reason when a payload is bad. Whatever it
 * accepts decodes to the same Position as the full path, field by field
 * (test/decoder/scanPayload.test.ts checks that on generated and mutated payloads).
 *
 * The payload is [start, end) of a larger buffer, and what follows it there is the reply's next
 * bytes (`\r\n$…`, and `\r` is JSON whitespace), so no step reads at or past the payload's end,
 * called `limit` below: every loop and every look-ahead is bounded by it.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const LOWER_E = 0x65
const UPPER_E = 0x45
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const LOWER_A = 0x61
const LOWER_Z = 0x7a
const LOWER_F = 0x66
const LOWER_T = 0x74
const UNDERSCORE = 0x5f
/** Below this, a control character: JSON.parse refuses it unescaped in a string. */
const FIRST_PRINTABLE = 0x20
/** The last ASCII byte: anything above is UTF-8, left to the full path. */
const LAST_ASCII = 0x7f
/** What `byteAt` answers at the payload's end: no character compares equal to it, as `charCodeAt`'s
 * NaN past a string's end did. */
const PAST_END = -1

/** Exact powers of ten: m / 10^k with m < 2^53 and k ≤ 22 is one correctly rounded division, the
 * same double `JSON.parse` gives for the text. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k)

/** Digits a mantissa may have and stay below 2^53. */
const MAX_EXACT_DIGITS = 15
/** Without an exponent, a number this long or shorter is finite (the largest double has 309 digits). */
const MAX_ATTRIBUTE_NUMBER_DIGITS = 300
const MAX_DEVICE_ID = 64
/** The longest device id that is an IMEI-like number (PositionBatch's `digitsValue`). */
const MAX_DEVICE_DIGITS = 15
const MAX_ATTRIBUTE_STRING = 4096
const MAX_ATTRIBUTE_KEY = 63
const MAX_IO_ID_DIGITS = 5
const MAX_BIGINT_DIGITS = 20

/** Every scanning step takes the index of the next byte and returns the index after what it read,
 * or NOT_ACCEPTED: not in the common form. */
const NOT_ACCEPTED = -1

/** Buffer's own Latin-1 decoder, without `toString`'s argument checks (not in Node's typings). On
 * the ASCII bytes it is given here, it is the text itself. */
interface Latin1Slice {
  latin1Slice(start: number, end: number): string
}

const latin1 = (bytes: Buffer, start: number, end: number): string =>
  (bytes as unknown as Latin1Slice).latin1Slice(start, end)

/** The byte at `i`, or PAST_END at or past the payload's end. */
const byteAt = (bytes: Buffer, i: number, limit: number): number => (i < limit ? (bytes[i] as number) : PAST_END)

/** Whether the payload has the ASCII `text` at `i`, wholly before `limit`. */
const matches = (bytes: Buffer, i: number, limit: number, text: string): boolean => {
  if (i + text.length > limit) return false
  for (let k = 0; k < text.length; k++) {
    if (bytes[i + k] !== text.charCodeAt(k)) return false
  }
  return true
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/** Past JSON whitespace, stopping at the payload's end: the reply's `\r\n` after it is not the
 * payload's. */
const skipSpace = (bytes: Buffer, i: number, limit: number): number => {
  while (i < limit && isSpace(bytes[i] as number)) i++
  return i
}

/** At an opening quote: past the closing one. NOT_ACCEPTED for an escape, a control character (which
 * JSON.parse refuses), a byte that is not ASCII, or no closing quote before the payload's end. */
const scanPlainString = (bytes: Buffer, i: number, limit: number): number => {
  for (i++; i < limit; i++) {
    const c = bytes[i] as number
    if (c === QUOTE) return i + 1
    if (c === BACKSLASH || c < FIRST_PRINTABLE || c > LAST_ASCII) return NOT_ACCEPTED
  }
  return NOT_ACCEPTED
}

// The device id scanDeviceId last read, as `digitsValue` gives it. The scan is synchronous, so one
// serves all.
let deviceDigits = 0

/** scanPlainString for the device id, working out its `digitsValue` on the way: the id's bytes are
 * read once. */
const scanDeviceId = (bytes: Buffer, i: number, limit: number): number => {
  const start = i + 1
  let value = 0
  let allDigits = true
  for (i = start; i < limit; i++) {
    const c = bytes[i] as number
    if (c === QUOTE) {
      const length = i - start
      deviceDigits = allDigits && length >= 1 && length <= MAX_DEVICE_DIGITS ? value : Number.POSITIVE_INFINITY
      return i + 1
    }
    if (c === BACKSLASH || c < FIRST_PRINTABLE || c > LAST_ASCII) return NOT_ACCEPTED
    // digitsValue's arithmetic, in its order: the same double (only used when ≤ 15 digits).
    if (c >= ZERO && c <= NINE) value = value * 10 + (c - ZERO)
    else allDigits = false
  }
  return NOT_ACCEPTED
}

// The parts of the number scanNumber last read. The scan is synchronous, so one set serves all.
let digits = 0
let mantissa = 0
let fractionDigits = 0
let hasExponent = false

/** Past a JSON number (RFC 8259 grammar), or NOT_ACCEPTED. */
const scanNumber = (bytes: Buffer, i: number, limit: number): number => {
  let count = 0
  let value = 0
  let fraction = 0
  let exponent = false
  if (byteAt(bytes, i, limit) === MINUS) i++
  const first = byteAt(bytes, i, limit)
  if (first === ZERO) {
    i++
    count = 1
  } else if (first > ZERO && first <= NINE) {
    for (; i < limit; i++) {
      const digit = (bytes[i] as number) - ZERO
      if (digit < 0 || digit > 9) break
      if (count < MAX_EXACT_DIGITS) value = value * 10 + digit
      count++
    }
  } else return NOT_ACCEPTED
  if (byteAt(bytes, i, limit) === DOT) {
    const fractionStart = ++i
    for (; i < limit; i++) {
      const digit = (bytes[i] as number) - ZERO
      if (digit < 0 || digit > 9) break
      if (count < MAX_EXACT_DIGITS) value = value * 10 + digit
      count++
    }
    fraction = i - fractionStart
    if (fraction === 0) return NOT_ACCEPTED
  }
  let c = byteAt(bytes, i, limit)
  if (c === LOWER_E || c === UPPER_E) {
    exponent = true
    c = byteAt(bytes, ++i, limit)
    if (c === PLUS || c === MINUS) i++
    const exponentStart = i
    for (c = byteAt(bytes, i, limit); c >= ZERO && c <= NINE; c = byteAt(bytes, ++i, limit)) {}
    if (i === exponentStart) return NOT_ACCEPTED
  }
  digits = count
  mantissa = value
  fractionDigits = fraction
  hasExponent = exponent
  return i
}

/** The value of the number just scanned from `start` to `end`: exact arithmetic when it is small
 * enough to be, otherwise the engine's own conversion of the (already validated, ASCII) text. */
const numberValue = (bytes: Buffer, start: number, end: number): number => {
  if (!hasExponent && digits <= MAX_EXACT_DIGITS && fractionDigits < POW10.length) {
    const magnitude = mantissa / (POW10[fractionDigits] as number)
    return bytes[start] === MINUS ? -magnitude : magnitude
  }
  return Number(latin1(bytes, start, end))
}

/** Whether [start, end) is an attribute key: an IO id or a lower-case name. */
const isAttributeKey = (bytes: Buffer, start: number, end: number): boolean => {
  const length = end - start
  if (length < 1) return false
  const first = bytes[start] as number
  if (first >= ZERO && first <= NINE) {
    if (length > MAX_IO_ID_DIGITS) return false
    for (let i = start + 1; i < end; i++) {
      const c = bytes[i] as number
      if (c < ZERO || c > NINE) return false
    }
    return true
  }
  if (first < LOWER_A || first > LOWER_Z || length > MAX_ATTRIBUTE_KEY) return false
  for (let i = start + 1; i < end; i++) {
    const c = bytes[i] as number
    if (!((c >= LOWER_A && c <= LOWER_Z) || (c >= ZERO && c <= NINE) || c === UNDERSCORE)) return false
  }
  return true
}

/** At `{` of a tagged value: past `{"$bigint": "<decimal>"}` or `{"$bytes": "<base64>"}`, nothing else. */
const scanTaggedValue = (bytes: Buffer, i: number, limit: number): number => {
  i = skipSpace(bytes, i + 1, limit)
  const isBigint = matches(bytes, i, limit, '"$bigint"')
  if (!isBigint && !matches(bytes, i, limit, '"$bytes"')) return NOT_ACCEPTED
  i = skipSpace(bytes, i + (isBigint ? 9 : 8), limit)
  if (byteAt(bytes, i, limit) !== COLON) return NOT_ACCEPTED
  i = skipSpace(bytes, i + 1, limit)
  if (byteAt(bytes, i, limit) !== QUOTE) return NOT_ACCEPTED
  const start = i + 1
  i = scanPlainString(bytes, i, limit)
  if (i === NOT_ACCEPTED) return NOT_ACCEPTED
  const end = i - 1
  if (isBigint) {
    let d = start
    if (bytes[d] === MINUS) d++
    if (end - d < 1 || end - d > MAX_BIGINT_DIGITS) return NOT_ACCEPTED
    for (; d < end; d++) {
      const c = bytes[d] as number
      if (c < ZERO || c > NINE) return NOT_ACCEPTED
    }
    // Rare (the gateway's iButton ids are $bigint, its $bytes few): a string here costs little.
  } else if (!BASE64.test(latin1(bytes, start, end))) return NOT_ACCEPTED
  i = skipSpace(bytes, i, limit)
  return byteAt(bytes, i, limit) === CLOSE_BRACE ? i + 1 : NOT_ACCEPTED
}

const scanAttributeValue = (bytes: Buffer, i: number, limit: number): number => {
  const c = byteAt(bytes, i, limit)
  if (c === QUOTE) {
    const end = scanPlainString(bytes, i, limit)
    return end !== NOT_ACCEPTED && end - i - 2 <= MAX_ATTRIBUTE_STRING ? end : NOT_ACCEPTED
  }
  if (c === MINUS || (c >= ZERO && c <= NINE)) {
    const end = scanNumber(bytes, i, limit)
    return end !== NOT_ACCEPTED && !hasExponent && digits <= MAX_ATTRIBUTE_NUMBER_DIGITS ? end : NOT_ACCEPTED
  }
  if (c === LOWER_T) return matches(bytes, i, limit, "true") ? i + 4 : NOT_ACCEPTED
  if (c === LOWER_F) return matches(bytes, i, limit, "false") ? i + 5 : NOT_ACCEPTED
  if (c === OPEN_BRACE) return scanTaggedValue(bytes, i, limit)
  return NOT_ACCEPTED
}

/** At the attributes' `{`: past the object's closing `}`, or NOT_ACCEPTED. */
const scanAttributes = (bytes: Buffer, i: number, limit: number): number => {
  if (byteAt(bytes, i, limit) !== OPEN_BRACE) return NOT_ACCEPTED
  i = skipSpace(bytes, i + 1, limit)
  if (byteAt(bytes, i, limit) === CLOSE_BRACE) return i + 1
  for (;;) {
    if (byteAt(bytes, i, limit) !== QUOTE) return NOT_ACCEPTED
    const keyStart = i + 1
    i = scanPlainString(bytes, i, limit)
    if (i === NOT_ACCEPTED || !isAttributeKey(bytes, keyStart, i - 1)) return NOT_ACCEPTED
    i = skipSpace(bytes, i, limit)
    if (byteAt(bytes, i, limit) !== COLON) return NOT_ACCEPTED
    i = scanAttributeValue(bytes, skipSpace(bytes, i + 1, limit), limit)
    if (i === NOT_ACCEPTED) return NOT_ACCEPTED
    i = skipSpace(bytes, i, limit)
    const c = byteAt(bytes, i, limit)
    if (c === CLOSE_BRACE) return i + 1
    if (c !== COMMA) return NOT_ACCEPTED
    i = skipSpace(bytes, i + 1, limit)
  }
}

// Which SPEC §3.1 key a key text is: a numeric one by its PositionBatch column (TS … EVENT_ID, below
// NUMBER_COLUMNS), the two texts after the columns. Bit `1 << key` of `seen` marks it read.
const DEVICE_ID_KEY = NUMBER_COLUMNS
const ATTRIBUTES_KEY = NUMBER_COLUMNS + 1
const NO_KEY = -1
const ALL_KEYS =
  (1 << TS) |
  (1 << LAT) |
  (1 << LON) |
  (1 << ALTITUDE) |
  (1 << ANGLE) |
  (1 << SPEED) |
  (1 << SATELLITES) |
  (1 << PRIORITY) |
  (1 << EVENT_ID) |
  (1 << DEVICE_ID_KEY) |
  (1 << ATTRIBUTES_KEY)

/** The key of the key text [start, start + length) (inside the payload: scanPlainString found its
 * closing quote), or NO_KEY for any other key. */
const keyOf = (bytes: Buffer, start: number, length: number): number => {
  const end = start + length
  switch (length) {
    case 2:
      return matches(bytes, start, end, "ts") ? TS : NO_KEY
    case 3:
      return matches(bytes, start, end, "lat") ? LAT : matches(bytes, start, end, "lon") ? LON : NO_KEY
    case 5:
      return matches(bytes, start, end, "angle") ? ANGLE : matches(bytes, start, end, "speed") ? SPEED : NO_KEY
    case 8:
      return matches(bytes, start, end, "altitude")
        ? ALTITUDE
        : matches(bytes, start, end, "priority")
          ? PRIORITY
          : matches(bytes, start, end, "event_id")
            ? EVENT_ID
            : NO_KEY
    case 9:
      return matches(bytes, start, end, "device_id") ? DEVICE_ID_KEY : NO_KEY
    case 10:
      return matches(bytes, start, end, "satellites")
        ? SATELLITES
        : matches(bytes, start, end, "attributes")
          ? ATTRIBUTES_KEY
          : NO_KEY
    default:
      return NO_KEY
  }
}

/** Whether a numeric key's value is in its range: the fix's time a valid Date's, the coordinates on
 * the globe; finiteness and whole numbers are checked once all keys are read. */
const inRange = (key: number, value: number): boolean => {
  switch (key) {
    case TS:
      return value >= -8.64e15 && value <= 8.64e15
    case LAT:
      return value >= -90 && value <= 90
    case LON:
      return value >= -180 && value <= 180
    default:
      return true
  }
}

/**
 * Decodes the payload in `bytes[start, end)` into row `out.length` of `out` (all but RECEIVED_AT;
 * the caller writes that and commits the row) and answers true, or answers false: not in the common
 * form (the full path decides, and names the reason if it is bad). The row may then hold part of
 * the payload's values; uncommitted, it is overwritten by the next.
 */
export const scanPayload = (bytes: Buffer, start: number, end: number, out: PositionBatch): boolean => {
  const row = out.length
  const capacity = out.capacity
  const numbers = out.numbers
  let i = skipSpace(bytes, start, end)
  if (byteAt(bytes, i, end) !== OPEN_BRACE) return false
  let seen = 0
  for (;;) {
    i = skipSpace(bytes, i + 1, end)
    if (byteAt(bytes, i, end) !== QUOTE) return false
    const keyStart = i + 1
    i = scanPlainString(bytes, i, end)
    if (i === NOT_ACCEPTED) return false
    const key = keyOf(bytes, keyStart, i - 1 - keyStart)
    if (key === NO_KEY || (seen & (1 << key)) !== 0) return false
    seen |= 1 << key
    i = skipSpace(bytes, i, end)
    if (byteAt(bytes, i, end) !== COLON) return false
    const valueStart = skipSpace(bytes, i + 1, end)
    if (key === DEVICE_ID_KEY) {
      if (byteAt(bytes, valueStart, end) !== QUOTE) return false
      i = scanDeviceId(bytes, valueStart, end)
      if (i === NOT_ACCEPTED || i - valueStart - 2 < 1 || i - valueStart - 2 > MAX_DEVICE_ID) return false
      out.deviceStart[row] = valueStart + 1
      out.deviceEnd[row] = i - 1
      out.deviceDigits[row] = deviceDigits
    } else if (key === ATTRIBUTES_KEY) {
      i = scanAttributes(bytes, valueStart, end)
      if (i === NOT_ACCEPTED) return false
      out.attributesStart[row] = valueStart
      out.attributesEnd[row] = i
    } else {
      i = scanNumber(bytes, valueStart, end)
      if (i === NOT_ACCEPTED) return false
      const value = numberValue(bytes, valueStart, i)
      if (!inRange(key, value)) return false
      numbers[key * capacity + row] = value
    }
    i = skipSpace(bytes, i, end)
    const c = byteAt(bytes, i, end)
    if (c === CLOSE_BRACE) break
    if (c !== COMMA) return false
  }
  if (skipSpace(bytes, i + 1, end) !== end || seen !== ALL_KEYS) return false
  const altitude = numbers[ALTITUDE * capacity + row] as number
  const angle = numbers[ANGLE * capacity + row] as number
  const speed = numbers[SPEED * capacity + row] as number
  if (!(Number.isFinite(altitude) && Number.isFinite(angle) && Number.isFinite(speed))) return false
  const satellites = numbers[SATELLITES * capacity + row] as number
  const priority = numbers[PRIORITY * capacity + row] as number
  const eventId = numbers[EVENT_ID * capacity + row] as number
  if (!(Number.isSafeInteger(satellites) && Number.isSafeInteger(priority) && Number.isSafeInteger(eventId))) {
    return false
  }
  out.inExtra[row] = 0
  return true
}

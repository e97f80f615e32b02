/**
 * The exact text of the top-level `"attributes"` value of a payload JSON.JSON.parse has already
 * accepted, so the writer can hand PostgreSQL the producer's own JSON instead of serialising the
 * parsed object again (that was an eighth of the processor's CPU). Undefined whenever the answer
 * could differ from `JSON.stringify(JSON.parse(raw).attributes)` semantically: an escaped key at
 * the top level (`"\u0061ttributes"` is the same key), or no such key.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COLON = 0x3a

/** Index just past the string starting at `start` (a quote), and whether it held an escape. */
const skipString = (raw: string, start: number): { end: number; escaped: boolean } => {
  let escaped = false
  for (let i = start + 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === BACKSLASH) {
      escaped = true
      i++
    } else if (c === QUOTE) return { end: i + 1, escaped }
  }
  return { end: raw.length, escaped }
}

export const attributesText = (raw: string): string | undefined => {
  let i = raw.indexOf("{")
  if (i === -1) return undefined
  i++
  let found: string | undefined
  // At the top level: a key, a colon, a value, a comma; repeat. Later duplicates win, as in JSON.parse.
  while (i < raw.length) {
    const c = raw.charCodeAt(i)
    if (c !== QUOTE) {
      i++
      continue
    }
    const key = skipString(raw, i)
    if (key.escaped) return undefined
    const isAttributes = key.end - i === 12 && raw.startsWith('"attributes"', i)
    i = key.end
    while (i < raw.length && raw.charCodeAt(i) !== COLON) i++
    i++
    while (i < raw.length && raw.charCodeAt(i) <= 0x20) i++
    const valueStart = i
    let depth = 0
    for (; i < raw.length; i++) {
      const v = raw.charCodeAt(i)
      if (v === QUOTE) {
        i = skipString(raw, i).end - 1
        if (depth === 0) {
          i++
          break
        }
      } else if (v === OPEN_BRACE || v === OPEN_BRACKET) depth++
      else if (v === CLOSE_BRACE || v === CLOSE_BRACKET) {
        if (depth === 0) break
        depth--
        if (depth === 0) {
          i++
          break
        }
      } else if (depth === 0 && (v === 0x2c || v <= 0x20)) break
    }
    if (isAttributes) found = raw.slice(valueStart, i)
    // Past the value: whitespace, then a comma or the closing brace.
    while (i < raw.length) {
      const v = raw.charCodeAt(i)
      if (v === 0x2c) {
        i++
        break
      }
      if (v === CLOSE_BRACE) return found
      i++
    }
  }
  return found
}

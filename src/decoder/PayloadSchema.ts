import { Schema } from "effect"

/** The `payload` JSON of a stream entry, SPEC §3.1. Validation only; `toPosition` normalises.
 * The patterns are shared with the decoder's fast paths (fastPayload.ts, scanPayload.ts), so the
 * three cannot disagree on them. */

export const DECIMAL = /^-?\d{1,20}$/
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
/** ISO-8601 date-time that names its zone: a bare local time would be guessed, so it is refused. */
export const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i
/** IO elements are keyed by decimal id; record metadata by a lower-case name. */
export const ATTRIBUTE_KEY = /^(?:\d{1,5}|[a-z][a-z0-9_]{0,62})$/

export const BigIntAttribute = Schema.Struct({ $bigint: Schema.String.check(Schema.isPattern(DECIMAL)) })
export const BytesAttribute = Schema.Struct({ $bytes: Schema.String.check(Schema.isPattern(BASE64)) })
/** What `JSON.stringify(buffer)` produces; accepted and stored as `$bytes`. */
export const NodeBufferAttribute = Schema.Struct({
  type: Schema.Literal("Buffer"),
  data: Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))),
})

export const AttributeValueSchema = Schema.Union([
  Schema.Finite,
  Schema.Boolean,
  Schema.String.check(Schema.isMaxLength(4096)),
  BigIntAttribute,
  BytesAttribute,
  NodeBufferAttribute,
])

export const Timestamp = Schema.Union([
  Schema.String.check(Schema.isPattern(ISO_WITH_ZONE)),
  Schema.Finite.check(Schema.isBetween({ minimum: -8.64e15, maximum: 8.64e15 })),
])

export const PayloadSchema = Schema.Struct({
  device_id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  ts: Timestamp,
  lat: Schema.Finite.check(Schema.isBetween({ minimum: -90, maximum: 90 })),
  lon: Schema.Finite.check(Schema.isBetween({ minimum: -180, maximum: 180 })),
  altitude: Schema.Finite,
  angle: Schema.Finite,
  speed: Schema.Finite,
  satellites: Schema.Int,
  priority: Schema.Int,
  event_id: Schema.Int,
  // Keys are checked on the whole record: a refined key schema would silently drop the entries
  // that do not match, and a dropped IO element is lost data.
  attributes: Schema.Record(Schema.String, AttributeValueSchema).check(
    Schema.makeFilter((attributes: Readonly<Record<string, unknown>>) => {
      for (const key in attributes) {
        if (!ATTRIBUTE_KEY.test(key))
          return `attribute key ${JSON.stringify(key)} is neither an IO id nor a lower-case name`
      }
      return undefined
    }),
  ),
})

export type Payload = typeof PayloadSchema.Type

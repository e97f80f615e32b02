import type { Attributes, AttributeValue, Position } from "../domain/Position.ts"
import type { Payload } from "./PayloadSchema.ts"

type PayloadAttribute = Payload["attributes"][string]

const normaliseAttribute = (value: PayloadAttribute): AttributeValue => {
  if (typeof value === "object" && "type" in value) {
    return { $bytes: Buffer.from(value.data).toString("base64") }
  }
  return value
}

const normaliseAttributes = (attributes: Payload["attributes"]): Attributes => {
  // Most entries carry no Buffer-shaped values: keep the decoded object as is and allocate nothing.
  let copy: Record<string, AttributeValue> | undefined
  for (const key in attributes) {
    const value = attributes[key] as PayloadAttribute
    if (typeof value === "object" && "type" in value) {
      copy ??= { ...(attributes as Record<string, AttributeValue>) }
      copy[key] = normaliseAttribute(value)
    }
  }
  return copy ?? (attributes as Attributes)
}

/** Epoch ms of a validated timestamp; undefined for a string that names an impossible date. */
export const timestampMs = (ts: Payload["ts"]): number | undefined => {
  if (typeof ts === "number") return ts
  const ms = Date.parse(ts)
  return Number.isFinite(ms) ? ms : undefined
}

/** `plainAttributes`: the caller knows there is no Buffer JSON to normalise, so the decoded object is
 * used as it is, without another pass over it. */
export const toPosition = (
  streamId: string,
  payload: Payload,
  tsMs: number,
  receivedAtMs: number | null,
  plainAttributes = false,
  attributesJson?: string,
): Position => ({
  streamId,
  deviceId: payload.device_id,
  tsMs,
  lat: payload.lat,
  lon: payload.lon,
  altitude: payload.altitude,
  angle: payload.angle,
  speed: payload.speed,
  satellites: payload.satellites,
  priority: payload.priority,
  eventId: payload.event_id,
  attributes: plainAttributes ? (payload.attributes as Attributes) : normaliseAttributes(payload.attributes),
  // Always present, so every Position has one shape.
  attributesJson,
  receivedAtMs,
})

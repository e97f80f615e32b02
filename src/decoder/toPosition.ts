import { type Attributes, type AttributeValue, deviceKeyOf, type Position } from "../domain/Position.ts"
import type { Payload } from "./PayloadSchema.ts"

type PayloadAttribute = Payload["attributes"][string]

const normaliseAttribute = (value: PayloadAttribute): AttributeValue => {
  if (typeof value === "object" && "type" in value) {
    return { $bytes: Buffer.from(value.data).toString("base64") }
  }
  return value
}

/** Attributes in the stored form: Node Buffer JSON becomes `{"$bytes": base64}`. */
export const normaliseAttributes = (attributes: Payload["attributes"]): Attributes => {
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

/** `attributesJson`: the stored form of the payload's attributes as JSON text (see Position). */
export const toPosition = (
  streamId: string,
  payload: Payload,
  tsMs: number,
  receivedAtMs: number | null,
  attributesJson: string,
): Position => ({
  streamId,
  deviceId: payload.device_id,
  deviceKey: deviceKeyOf(payload.device_id),
  tsMs,
  lat: payload.lat,
  lon: payload.lon,
  altitude: payload.altitude,
  angle: payload.angle,
  speed: payload.speed,
  satellites: payload.satellites,
  priority: payload.priority,
  eventId: payload.event_id,
  attributesJson,
  receivedAtMs,
})

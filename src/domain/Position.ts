/** An IO element or record-metadata value, in the tagged JSON form stored in `positions.attributes`. */
export type AttributeValue = number | boolean | string | { readonly $bigint: string } | { readonly $bytes: string }

export type Attributes = Readonly<Record<string, AttributeValue>>

/** One decoded GPS fix, ready to be written. `streamId` ties it back to the entry it came from. */
export interface Position {
  readonly streamId: string
  readonly deviceId: string
  /** The device id as a map key: `deviceKeyOf(deviceId)`, worked out while the payload is being
   * decoded (see there). */
  readonly deviceKey: DeviceKey
  /** Fix time, epoch milliseconds. */
  readonly tsMs: number
  readonly lat: number
  readonly lon: number
  readonly altitude: number
  readonly angle: number
  readonly speed: number
  readonly satellites: number
  readonly priority: number
  readonly eventId: number
  /** The `attributes` object (see Attributes) as JSON text, which is what PostgreSQL is sent: the
   * producer's own text when it needs no normalising. Kept as text rather than as the parsed
   * object, so that a batch waiting on PostgreSQL holds one string a record instead of an object
   * graph (which survived into V8's old generation and cost the processor ~12% of its CPU). */
  readonly attributesJson: string
  /** When the gateway received it, epoch milliseconds; null when the producer did not say. */
  readonly receivedAtMs: number | null
}

/** The identity of a position in PostgreSQL: writing the same key twice is a no-op. */
export const positionKey = (p: Pick<Position, "deviceId" | "tsMs">): string => `${p.deviceId}\u0000${p.tsMs}`

/** A device id as a number when it is a canonical decimal of up to 15 digits (an IMEI), else the
 * id itself: one key per id either way ("007" stays a string, so it cannot meet "7"). */
export type DeviceKey = number | string

/**
 * Why: the device state and the write order look a record's device up by this key. Worked out by
 * the decoder, while the payload's characters are still in the CPU's cache, a number makes that
 * lookup a hash of a double; the id string's own hash was computed at lookup time, from a payload
 * decoded milliseconds earlier, and the lookup was the processor's costliest function after GC.
 */
export const deviceKeyOf = (deviceId: string): DeviceKey => {
  const length = deviceId.length
  if (length === 0 || length > 15) return deviceId
  let value = 0
  for (let i = 0; i < length; i++) {
    const digit = deviceId.charCodeAt(i) - 48
    if (digit < 0 || digit > 9 || (digit === 0 && i === 0 && length > 1)) return deviceId
    value = value * 10 + digit
  }
  return value
}

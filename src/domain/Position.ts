/** An IO element or record-metadata value, in the tagged JSON form stored in `positions.attributes`. */
export type AttributeValue = number | boolean | string | { readonly $bigint: string } | { readonly $bytes: string }

export type Attributes = Readonly<Record<string, AttributeValue>>

/** One decoded GPS fix, ready to be written. `streamId` ties it back to the entry it came from. */
export interface Position {
  readonly streamId: string
  readonly deviceId: string
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

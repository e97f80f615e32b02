import { Context, Layer, Result, Schema } from "effect"
import type { Position } from "../domain/Position.ts"
import { fieldValue, type StreamEntry } from "../domain/StreamEntry.ts"
import { attributesText } from "./attributesText.ts"
import { CodecError } from "./CodecError.ts"
import { checkPayload } from "./fastPayload.ts"
import { type Payload, PayloadSchema } from "./PayloadSchema.ts"
import { scanPayload } from "./scanPayload.ts"
import { normaliseAttributes, timestampMs, toPosition } from "./toPosition.ts"

/** Entries larger than this are refused before parsing: a payload is a few hundred bytes. */
export const MAX_PAYLOAD_BYTES = 65_536

const decodePayload = Schema.decodeUnknownResult(PayloadSchema)

const fail = (entryId: string, reason: string) => Result.fail(new CodecError({ entryId, reason }))

/** Stream entry → Position, or a CodecError naming the entry and the reason. Pure and synchronous:
 * the hot path decodes a whole batch in a loop without an effect per record. */
export const decodeEntry = (entry: StreamEntry): Result.Result<Position, CodecError> => {
  const raw = fieldValue(entry, "payload")
  if (raw === undefined) return fail(entry.id, "missing field `payload`")
  if (raw.length > MAX_PAYLOAD_BYTES)
    return fail(entry.id, `payload is ${raw.length} bytes, more than ${MAX_PAYLOAD_BYTES}`)
  const receivedAtRaw = fieldValue(entry, "received_at")
  const receivedAtMs = receivedAtRaw === undefined ? null : Number(receivedAtRaw)
  if (receivedAtMs !== null && !Number.isSafeInteger(receivedAtMs)) {
    // The payload's own faults are reported first.
    const payload = decodePayloadText(entry.id, raw, null)
    return Result.isFailure(payload)
      ? payload
      : fail(entry.id, `received_at ${JSON.stringify(receivedAtRaw)} is not epoch milliseconds`)
  }
  const scanned = scanPayload(entry.id, raw, receivedAtMs)
  return scanned !== undefined ? Result.succeed(scanned) : decodePayloadText(entry.id, raw, receivedAtMs)
}

/** The full path, for payloads `scanPayload` does not take: JSON.parse, the payload check, and the
 * Schema for the precise reason when the check says no. */
export const decodePayloadText = (
  entryId: string,
  raw: string,
  receivedAtMs: number | null,
): Result.Result<Position, CodecError> => {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch (error) {
    return fail(entryId, `payload is not JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  let payload: Payload
  let plainAttributes = false
  const check = checkPayload(json)
  if (check !== "invalid") {
    payload = json as Payload
    plainAttributes = check === "valid"
  } else {
    const decoded = decodePayload(json)
    if (Result.isFailure(decoded)) return fail(entryId, decoded.failure.message)
    payload = decoded.success
  }
  const tsMs = timestampMs(payload.ts)
  if (tsMs === undefined) return fail(entryId, `ts ${JSON.stringify(payload.ts)} is not a valid date`)
  const attributesJson = plainAttributes
    ? (attributesText(raw) ?? JSON.stringify(payload.attributes))
    : JSON.stringify(normaliseAttributes(payload.attributes))
  return Result.succeed(toPosition(entryId, payload, tsMs, receivedAtMs, attributesJson))
}

export interface DecodedBatch {
  readonly positions: Array<Position>
  readonly failures: Array<CodecError>
}

export const decodeEntries = (entries: ReadonlyArray<StreamEntry>): DecodedBatch => {
  const positions: Array<Position> = []
  const failures: Array<CodecError> = []
  for (const entry of entries) {
    const result = decodeEntry(entry)
    if (Result.isSuccess(result)) positions.push(result.success)
    else failures.push(result.failure)
  }
  return { positions, failures }
}

export class Decoder extends Context.Service<
  Decoder,
  {
    readonly decode: (entries: ReadonlyArray<StreamEntry>) => DecodedBatch
  }
>()("telemetry/decoder/Decoder") {
  static readonly layer = Layer.succeed(Decoder, Decoder.of({ decode: decodeEntries }))
}

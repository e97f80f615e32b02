import { Context, Layer, Result, Schema } from "effect"
import { EntryBlock } from "../consumer/EntryBlock.ts"
import type { Position } from "../domain/Position.ts"
import { digitsValue, PositionBatch, RECEIVED_AT } from "../domain/PositionBatch.ts"
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

/**
 * Stream entry → Position, or a CodecError naming the entry and the reason, from its strings: the
 * full path, for what `decodeInPlace` does not take (and the one that names what is wrong).
 */
export const decodeEntryFields = (entry: StreamEntry): Result.Result<Position, CodecError> => {
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
  return decodePayloadText(entry.id, raw, receivedAtMs)
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
  readonly positions: PositionBatch
  readonly failures: Array<CodecError>
}

/**
 * Entry `i` of `block` decoded in place, from the reply's bytes, as the next row of `out`: the
 * common case, a payload `scanPayload` takes and a plain `received_at` (or none). False when it is
 * not that case; the full path then decides, from the entry's strings.
 */
const decodeInPlace = (block: EntryBlock, bytes: Buffer, i: number, out: PositionBatch): boolean => {
  const start = block.payloadStart[i] as number
  const end = block.payloadEnd[i] as number
  if (start < 0 || end - start > MAX_PAYLOAD_BYTES) return false
  let receivedAtMs = Number.NaN
  const receivedAtStart = block.receivedAtStart[i] as number
  if (receivedAtStart >= 0) {
    // 1–15 digits, the gateway's form; anything else is `Number`'s to read (the full path).
    receivedAtMs = digitsValue(bytes, receivedAtStart, block.receivedAtEnd[i] as number)
    if (receivedAtMs === Number.POSITIVE_INFINITY) return false
  }
  if (!scanPayload(bytes, start, end, out)) return false
  out.numbers[RECEIVED_AT * out.capacity + out.length] = receivedAtMs
  out.commit(block.ids[i] as string)
  return true
}

/** Entries `rows` of `block` (all of them when undefined), in that order: each a row of `positions`
 * or a failure. Pure and synchronous: the hot path decodes a whole batch in a loop, with no effect
 * and no object per record. Entries deleted from the stream are the caller's to sort out first. */
export const decodeBlock = (block: EntryBlock, rows?: ReadonlyArray<number>): DecodedBatch => {
  const count = rows === undefined ? block.length : rows.length
  const positions = new PositionBatch(block, count, block.scratch)
  const bytes = block.bytes
  const failures: Array<CodecError> = []
  for (let k = 0; k < count; k++) {
    const i = rows === undefined ? k : (rows[k] as number)
    if (decodeInPlace(block, bytes, i, positions)) continue
    const { id, fields } = block.entry(i)
    const decoded = decodeEntryFields({ id, fields: fields ?? [] })
    if (Result.isSuccess(decoded)) positions.append(decoded.success)
    else failures.push(decoded.failure)
  }
  return { positions, failures }
}

/** One entry through the processor's own path (`decodeBlock`): what the gateway's and the simulator's tests
 * check their entries with. */
export const decodeEntry = (entry: StreamEntry): Result.Result<Position, CodecError> => {
  const { positions, failures } = decodeBlock(EntryBlock.of([entry]))
  const failure = failures[0]
  return failure === undefined ? Result.succeed(positions.position(0)) : Result.fail(failure)
}

export class Decoder extends Context.Service<
  Decoder,
  {
    /** decodeBlock */
    readonly decode: (block: EntryBlock, rows?: ReadonlyArray<number>) => DecodedBatch
  }
>()("telemetry/decoder/Decoder") {
  static readonly layer = Layer.succeed(Decoder, Decoder.of({ decode: decodeBlock }))
}

import { fieldsToRecord } from "../domain/StreamEntry.ts"

/**
 * The fields Consumer.deadLetter appends to an entry's own fields (SPEC §3.3). Exactly these are
 * stripped on replay, not every `dlq_`-prefixed name, so an original field that happens to start
 * with `dlq_` survives the round trip.
 */
export const DLQ_FIELDS = [
  "dlq_original_id",
  "dlq_error_tag",
  "dlq_error_message",
  "dlq_deliveries",
  "dlq_consumer",
  "dlq_stream",
  "dlq_failed_at",
] as const

const dlqFieldNames: ReadonlySet<string> = new Set(DLQ_FIELDS)

export interface DlqEntry {
  /** The entry's id in the DLQ stream (what `replay --id` and `purge --id` take). */
  readonly id: string
  /** Its id in the main stream before it was dead-lettered. */
  readonly originalId: string | null
  readonly stream: string | null
  readonly errorTag: string | null
  readonly errorMessage: string | null
  readonly deliveries: number | null
  readonly consumer: string | null
  /** ISO-8601, from `dlq_failed_at` (epoch ms). */
  readonly failedAt: string | null
  /** The original entry's fields, unchanged (what replay writes back). */
  readonly fields: Record<string, string>
}

/** Splits a DLQ entry's flat field list into the original fields (in their order) and the
 * dead-letter metadata. */
export const splitDlqFields = (
  fields: ReadonlyArray<string>,
): { readonly original: Array<string>; readonly meta: Record<string, string> } => {
  const original: Array<string> = []
  const meta: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i] as string
    const value = fields[i + 1] as string
    if (dlqFieldNames.has(name)) meta[name] = value
    else original.push(name, value)
  }
  return { original, meta }
}

const numberOrNull = (value: string | undefined): number | null => {
  if (value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

export const toDlqEntry = (id: string, fields: ReadonlyArray<string>): DlqEntry => {
  const { original, meta } = splitDlqFields(fields)
  const failedAtMs = numberOrNull(meta.dlq_failed_at)
  return {
    id,
    originalId: meta.dlq_original_id ?? null,
    stream: meta.dlq_stream ?? null,
    errorTag: meta.dlq_error_tag ?? null,
    errorMessage: meta.dlq_error_message ?? null,
    deliveries: numberOrNull(meta.dlq_deliveries),
    consumer: meta.dlq_consumer ?? null,
    failedAt: failedAtMs === null ? null : new Date(failedAtMs).toISOString(),
    fields: fieldsToRecord(original),
  }
}

/** A stream entry id as Redis prints it (`ms-seq`); `ms` alone is accepted for ranges. */
export const STREAM_ID = /^\d{1,20}(-\d{1,20})?$/

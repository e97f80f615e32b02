import { Schema } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import { describeSqlError, sqlState } from "../db/sqlError.ts"

/** The write may succeed if tried again: connection lost, timeout, deadlock, serialization, server
 * shutting down, a schema that is not there yet. Never a reason to dead-letter anything. */
export class TransientWriteError extends Schema.TaggedError<TransientWriteError>()("TransientWriteError", {
  reason: Schema.String,
  sqlState: Schema.optional(Schema.String),
}) {
  override get message(): string {
    return `transient write failure: ${this.reason}`
  }
}

/** The rows themselves are unacceptable to PostgreSQL (value out of range, invalid text or JSON):
 * trying again cannot help, so the offending rows are isolated and dead-lettered. */
export class PermanentWriteError extends Schema.TaggedError<PermanentWriteError>()("PermanentWriteError", {
  reason: Schema.String,
  sqlState: Schema.String,
}) {
  override get message(): string {
    return `rejected by PostgreSQL: ${this.reason}`
  }
}

export type WriteError = TransientWriteError | PermanentWriteError

/** SQLSTATE classes caused by the data in a row: 22 data exception, 23 integrity constraint,
 * 54 program limit (a value too large). Everything else is about the server, the connection or
 * the schema, and must never sink good rows. */
const DATA_ERROR_CLASSES = new Set(["22", "23", "54"])

export const classifySqlError = (error: SqlError): WriteError => {
  const state = sqlState(error)
  const reason = describeSqlError(error)
  if (state !== undefined && DATA_ERROR_CLASSES.has(state.slice(0, 2))) {
    return new PermanentWriteError({ reason, sqlState: state })
  }
  return state === undefined
    ? new TransientWriteError({ reason })
    : new TransientWriteError({ reason, sqlState: state })
}

import { Predicate } from "effect"
import type { SqlError } from "effect/sql/SqlError"

/** The driver error under a SqlError, as PostgreSQL reported it (SQLSTATE and text). */
const driverCause = (error: SqlError): { readonly code?: unknown; readonly message?: unknown } | undefined => {
  const cause: unknown = error.reason.cause
  return Predicate.isObject(cause) ? (cause as { readonly code?: unknown; readonly message?: unknown }) : undefined
}

export const sqlState = (error: SqlError): string | undefined => {
  const code = driverCause(error)?.code
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** "SQLSTATE text" when PostgreSQL said something, else the reason's own message. */
export const describeSqlError = (error: SqlError): string => {
  const cause = driverCause(error)
  const state = sqlState(error)
  const text = typeof cause?.message === "string" && cause.message !== "" ? cause.message : error.message
  return state === undefined ? `${error.reason._tag}: ${text}` : `${state} ${text}`
}

import * as PgTypes from "@effect/sql-pg/PgTypes"
import { Result } from "effect"

/** Array parameters with an explicit element type. Left to inference, the driver types a JS number
 * as int4, int8 or float8 by its value, and refuses an array that mixes them (54 next to 54.5), or
 * one with nothing but nulls. */
const typedArray = (oid: number) => (values: ReadonlyArray<unknown>) => {
  const parameter = PgTypes.array(values, oid)
  // Only an unknown element OID fails here, and these are built-in: a programming error.
  if (Result.isFailure(parameter)) throw parameter.failure
  return parameter.success
}

export const float8Array = typedArray(PgTypes.OID.float8)
export const textArray = typedArray(PgTypes.OID.text)

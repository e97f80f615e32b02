import { Schema } from "effect"

/** A failed Redis command. `code` is the error code Redis puts first in its reply (NOGROUP,
 * BUSYGROUP, LOADING, ...), absent for connection failures. */
export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  command: Schema.String,
  code: Schema.optional(Schema.String),
  reason: Schema.String,
}) {
  override get message(): string {
    return `redis ${this.command}: ${this.reason}`
  }
}

const REPLY_CODE = /^([A-Z][A-Z_]+) /

export const toRedisError = (command: string, error: unknown): RedisError => {
  const reason = error instanceof Error ? error.message : String(error)
  const code = REPLY_CODE.exec(reason)?.[1]
  return code === undefined ? new RedisError({ command, reason }) : new RedisError({ command, code, reason })
}

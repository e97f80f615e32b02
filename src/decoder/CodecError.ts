import { Schema } from "effect"

/** A stream entry that is not a valid position. Permanent: re-reading it cannot help. */
export class CodecError extends Schema.TaggedError<CodecError>()("CodecError", {
  entryId: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `entry ${this.entryId}: ${this.reason}`
  }
}

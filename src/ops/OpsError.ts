import { Schema } from "effect"

/** An operations command could not do what was asked (Redis failed, the group is missing, nobody
 * answered a control request). The message is meant for the operator as is. */
export class OpsError extends Schema.TaggedError<OpsError>()("OpsError", {
  operation: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.operation}: ${this.reason}`
  }
}

/** The request itself is wrong (bad id, bad count): HTTP 400, CLI usage error. */
export class OpsInputError extends Schema.TaggedError<OpsInputError>()("OpsInputError", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/** A destructive command was asked for without confirmation; says what it would have done. */
export class ConfirmationRequired extends Schema.TaggedError<ConfirmationRequired>()("ConfirmationRequired", {
  action: Schema.String,
}) {
  override get message(): string {
    return `refusing to ${this.action} without confirmation: pass --yes`
  }
}

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

/** Wraps any failure of a Redis-side step as an OpsError naming the step. */
export const asOpsError =
  (operation: string) =>
  (error: unknown): OpsError =>
    new OpsError({ operation, reason: describe(error) })

export { describe as describeError }

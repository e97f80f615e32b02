import { randomUUID } from "node:crypto"
import { Duration, Effect, Option, Queue, type Redacted, Result, Schema } from "effect"
import { connect, type RedisConnection } from "../redis/RedisClient.ts"
import { asOpsError, OpsError } from "./OpsError.ts"

/**
 * The control channel: how an operator (CLI or management API) reaches every running processor.
 *
 * Device state and the claim pipeline live inside the processors, so a command run elsewhere
 * cannot act on them directly. Each processor SUBSCRIBEs to `<stream>:control`; a request is
 * PUBLISHed there and every processor answers on `<stream>:control:reply:<request id>`. PUBLISH
 * returns how many processors received the request, so the requester knows how many answers to
 * wait for. Pub/sub is fire-and-forget: a processor that is down or reconnecting misses the
 * request, and the requester then sees fewer answers than it hoped for (reported, never hidden).
 */

export const controlChannel = (stream: string) => `${stream}:control`
export const replyChannel = (stream: string, requestId: string) => `${stream}:control:reply:${requestId}`

/** Floor of a requested claim's idle time: entries just delivered to a live processor are never
 * taken from it. (In-flight entries are re-stamped every CLAIM_THRESHOLD_MS/3; a claim below that
 * may take one, which costs a duplicate write, not correctness.) */
export const MIN_CLAIM_IDLE_MS = 1_000

const ClaimRequest = Schema.Struct({
  v: Schema.Literal(1),
  id: Schema.String,
  type: Schema.Literal("claim"),
  /** Overrides CLAIM_THRESHOLD_MS for this pass. */
  minIdleMs: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: MIN_CLAIM_IDLE_MS, maximum: 86_400_000 })),
  ),
  /** Only entries pending for this consumer (a dead instance), instead of any idle entry. */
  consumer: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200))),
})

const RehydrateRequest = Schema.Struct({
  v: Schema.Literal(1),
  id: Schema.String,
  type: Schema.Literal("rehydrate"),
  device: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
})

export const ControlRequest = Schema.Union([ClaimRequest, RehydrateRequest])
export type ControlRequest = typeof ControlRequest.Type

/** A request as the caller states it; `v` and `id` are added when it is sent. */
export type ControlCommand =
  | { readonly type: "claim"; readonly minIdleMs?: number; readonly consumer?: string }
  | { readonly type: "rehydrate"; readonly device: string }

export const ControlReply = Schema.Struct({
  id: Schema.String,
  /** The answering processor's REDIS_CONSUMER_NAME. */
  consumer: Schema.String,
  type: Schema.Literals(["claim", "rehydrate"]),
  ok: Schema.Boolean,
  error: Schema.optionalKey(Schema.String),
  claimed: Schema.optionalKey(Schema.Int),
  inserted: Schema.optionalKey(Schema.Int),
  duplicate: Schema.optionalKey(Schema.Int),
  deadLettered: Schema.optionalKey(Schema.Int),
  deleted: Schema.optionalKey(Schema.Int),
  /** Whether the device was in this processor's memory (it is not any more either way). */
  forgot: Schema.optionalKey(Schema.Boolean),
})
export type ControlReply = typeof ControlReply.Type

export const decodeRequest = Schema.decodeUnknownResult(Schema.fromJsonString(ControlRequest))
const decodeReply = Schema.decodeUnknownResult(Schema.fromJsonString(ControlReply))

export interface ControlResult {
  readonly requestId: string
  /** Processors subscribed when the request was published. */
  readonly receivers: number
  readonly replies: ReadonlyArray<ControlReply>
  /** Receivers that did not answer within the timeout. */
  readonly missing: number
}

export interface ControlClientOptions {
  readonly redisUrl: Redacted.Redacted<string>
  readonly stream: string
  /** Any connection not in subscriber mode, for the PUBLISH. */
  readonly publisher: RedisConnection
}

/**
 * Publishes one request and collects the answers until every receiver answered or `timeoutMs`
 * passed. Subscribes to the reply channel before publishing, so a fast answer is not missed. The
 * subscriber connection lives for this call only: control requests are rare, operator-driven.
 */
export const controlRequest = Effect.fn("controlRequest")(function* (
  options: ControlClientOptions,
  command: ControlCommand,
  timeoutMs: number,
) {
  const requestId = randomUUID()
  const replies = replyChannel(options.stream, requestId)
  const inbox = yield* Queue.unbounded<string>()
  const { client } = yield* connect(options.redisUrl, "telemetry-ops:reply").pipe(
    Effect.mapError(asOpsError("connect for control replies")),
  )
  client.on("message", (channel: string, message: string) => {
    if (channel === replies) Queue.offerUnsafe(inbox, message)
  })
  yield* Effect.tryPromise({
    try: () => client.subscribe(replies),
    catch: asOpsError("SUBSCRIBE control replies"),
  })
  const published = yield* options.publisher
    .call("PUBLISH", [controlChannel(options.stream), JSON.stringify({ v: 1, id: requestId, ...command })])
    .pipe(Effect.mapError(asOpsError("PUBLISH control request")))
  const receivers = typeof published === "number" ? published : 0

  const answers: Array<ControlReply> = []
  const deadline = Date.now() + timeoutMs
  while (answers.length < receivers) {
    const remaining = deadline - Date.now()
    if (remaining <= 0) break
    const next = yield* Queue.take(inbox).pipe(Effect.timeoutOption(Duration.millis(remaining)))
    if (Option.isNone(next)) break
    const decoded = decodeReply(next.value)
    if (Result.isFailure(decoded)) {
      yield* Effect.logWarning("ignored a malformed control reply").pipe(
        Effect.annotateLogs({ requestId, reason: decoded.failure.message }),
      )
      continue
    }
    if (decoded.success.id === requestId) answers.push(decoded.success)
  }
  return { requestId, receivers, replies: answers, missing: receivers - answers.length } satisfies ControlResult
}, Effect.scoped)

/** A request nobody received is an error for the operator: nothing happened. */
export const requireReceivers = (stream: string) => (result: ControlResult) =>
  result.receivers === 0
    ? Effect.fail(
        new OpsError({
          operation: "control request",
          reason: `no processor is subscribed to ${controlChannel(stream)} (none running, or all reconnecting)`,
        }),
      )
    : Effect.succeed(result)

import { Context, Effect, Layer, Result, Schema } from "effect"
import type { StreamEntry } from "../domain/StreamEntry.ts"
import { previousStreamId } from "../domain/StreamId.ts"
import { asTape, RedisClient, type RedisCommand } from "../redis/RedisClient.ts"
import { RedisError } from "../redis/RedisError.ts"
import { RespTape } from "../redis/RespTape.ts"
import { DEAD_LETTER_SCRIPT, dlqIdSetKey } from "./deadLetterScript.ts"
import { GAP_SCRIPT, GAP_SCRIPT_SHA } from "./gapScript.ts"
import {
  type AutoClaimReply,
  type EntryBlock,
  parseAutoClaim,
  parseEntries,
  parseFlatMap,
  parseReadGroup,
  UnexpectedReply,
} from "./replies.ts"

/** The consumer group is gone (NOGROUP): the stream key was deleted, the group destroyed, or
 * Redis restarted from an older snapshot. Handled by recreating it from the checkpoint. */
export class GroupMissing extends Schema.TaggedError<GroupMissing>()("GroupMissing", {
  command: Schema.String,
}) {
  override get message(): string {
    return `${this.command}: the consumer group is missing (NOGROUP)`
  }
}

/** Entries the group had not been given were deleted from the stream before anyone processed
 * them (trimmed past the group's cursor). They cannot be recovered; the range is reported. */
export class CursorLost extends Schema.TaggedError<CursorLost>()("CursorLost", {
  fromExclusive: Schema.String,
  toInclusive: Schema.String,
  /** -1 when Redis cannot tell how many. */
  lostEntries: Schema.Number,
}) {
  override get message(): string {
    const count = this.lostEntries >= 0 ? `${this.lostEntries} entries` : "an unknown number of entries"
    return `cursor lost: ${count} after ${this.fromExclusive} up to ${this.toInclusive} were deleted before they were processed`
  }
}

export type ConsumerError = RedisError | GroupMissing

export interface NewEntries {
  readonly entries: EntryBlock
  readonly lost: CursorLost | undefined
  /** How the acknowledgement sent ahead of the read ended (XACK's count), when there was one. Its
   * failure does not fail the read: the entries read are already delivered to this consumer. */
  readonly acked: Result.Result<number, ConsumerError> | undefined
}

export interface DeadLetter {
  readonly entry: StreamEntry
  readonly errorTag: string
  readonly errorMessage: string
  readonly deliveries: number
}

export interface PendingSummary {
  readonly count: number
  readonly oldestId: string | null
}

export interface GroupInfo {
  readonly lastDeliveredId: string
  readonly lag: number | null
  readonly pending: number
  readonly consumers: number
}

export interface ConsumerOptions {
  readonly stream: string
  readonly group: string
  readonly consumer: string
  readonly dlqStream: string
}

/** NOGROUP as GroupMissing; any other Redis error as it is. */
const asConsumerError =
  (command: string) =>
  (error: RedisError): ConsumerError =>
    error.code === "NOGROUP" ? new GroupMissing({ command }) : error

const toGroupMissing =
  (command: string) =>
  (error: RedisError): Effect.Effect<never, ConsumerError> =>
    Effect.fail(asConsumerError(command)(error))

const unexpected = <A>(command: string, parse: () => A): Effect.Effect<A, RedisError> =>
  Effect.try({
    try: parse,
    catch: (error) => {
      const reason = error instanceof UnexpectedReply ? error.message : String(error)
      return new RedisError({ command, reason })
    },
  })

/** The Redis side of the processor: one consumer in one group on one stream. Every method is one
 * round trip; none retries (the pipeline's wrappers decide). */
export class Consumer extends Context.Service<
  Consumer,
  {
    readonly options: ConsumerOptions
    /** Creates the group at `startId` ("0": the whole stream) unless it exists. True if created. */
    readonly ensureGroup: (startId: string) => Effect.Effect<boolean, RedisError>
    /** This consumer's own pending entries after `afterId` ("0": from the start), without blocking:
     * what it was given before a restart and never acknowledged. */
    readonly readPending: (afterId: string, count: number) => Effect.Effect<EntryBlock, ConsumerError>
    readonly ack: (ids: ReadonlyArray<string>) => Effect.Effect<number, ConsumerError>
    /** XAUTOCLAIM entries idle at least `minIdleMs`, from `start`. */
    readonly claim: (minIdleMs: number, start: string, count: number) => Effect.Effect<AutoClaimReply, ConsumerError>
    /** Re-stamps entries as just delivered to this consumer without counting a delivery (XCLAIM
     * JUSTID), so a batch held up by a slow database is not claimed away by a peer. */
    readonly touch: (ids: ReadonlyArray<string>) => Effect.Effect<void, ConsumerError>
    /** Delivery counts of this consumer's pending entries in [from, to]. */
    readonly deliveries: (from: string, to: string, count: number) => Effect.Effect<Map<string, number>, ConsumerError>
    /** Moves entries to the DLQ and acknowledges them atomically; returns how many were moved
     * (entries no longer pending are skipped, so a repeat is harmless). */
    readonly deadLetter: (letters: ReadonlyArray<DeadLetter>) => Effect.Effect<number, ConsumerError>
    /** The entries with these ids that are still in the stream (XRANGE each, one round trip). */
    readonly entries: (ids: ReadonlyArray<string>) => Effect.Effect<Map<string, StreamEntry>, ConsumerError>
    /** The id at or below which every entry is done: just below the oldest pending entry, or the
     * group's last-delivered id when nothing is pending. Read atomically. */
    readonly frontier: Effect.Effect<string, ConsumerError>
    readonly pendingSummary: Effect.Effect<PendingSummary, ConsumerError>
    readonly groupInfo: Effect.Effect<GroupInfo | undefined, RedisError>
    /** Detects (and steps over) entries deleted before the group was given them. */
    readonly checkCursor: Effect.Effect<CursorLost | undefined, RedisError>
    /** The cursor check, then XREADGROUP ">", in one round trip on the read connection, so no read
     * of ours can slip between the check and the entries it guards; `ack` (if any) is acknowledged
     * first, in the same round trip. */
    readonly readNew: (
      count: number,
      blockMs: number,
      ack?: ReadonlyArray<string>,
    ) => Effect.Effect<NewEntries, ConsumerError>
    /** The consumer names of the group with their pending counts and idle times. */
    readonly consumers: Effect.Effect<Array<{ name: string; pending: number; idleMs: number }>, ConsumerError>
    readonly removeConsumer: (name: string) => Effect.Effect<number, ConsumerError>
    /** `maxmemory-policy` of the server, or undefined when CONFIG is not allowed (managed Redis). */
    readonly maxmemoryPolicy: Effect.Effect<string | undefined>
  }
>()("telemetry/consumer/Consumer") {
  static readonly layer = (options: ConsumerOptions) =>
    Layer.effect(
      Consumer,
      Effect.gen(function* () {
        const redis = yield* RedisClient
        const { stream, group, consumer, dlqStream } = options
        const cmd = redis.commands

        const ensureGroup = (startId: string) =>
          cmd.call("XGROUP", ["CREATE", stream, group, startId, "MKSTREAM"]).pipe(
            Effect.as(true),
            Effect.catchIf(
              (error) => error.code === "BUSYGROUP",
              () => Effect.succeed(false),
            ),
          )

        const readPending = (afterId: string, count: number) =>
          redis.blocking
            .callTape("XREADGROUP", ["GROUP", group, consumer, "COUNT", count, "STREAMS", stream, afterId])
            .pipe(
              Effect.catch(toGroupMissing("XREADGROUP")),
              Effect.flatMap((reply) => unexpected("XREADGROUP", () => parseReadGroup(reply))),
            )

        const ackCommand = (ids: ReadonlyArray<string>): RedisCommand => ["XACK", stream, group, ...ids]
        const ackCount = (reply: unknown): number => (typeof reply === "number" ? reply : 0)
        const ack = (ids: ReadonlyArray<string>) =>
          ids.length === 0
            ? Effect.succeed(0)
            : cmd.call("XACK", [stream, group, ...ids]).pipe(Effect.map(ackCount), Effect.catch(toGroupMissing("XACK")))

        const claim = (minIdleMs: number, start: string, count: number) =>
          cmd.callTape("XAUTOCLAIM", [stream, group, consumer, minIdleMs, start, "COUNT", count]).pipe(
            Effect.catch(toGroupMissing("XAUTOCLAIM")),
            Effect.flatMap((reply) => unexpected("XAUTOCLAIM", () => parseAutoClaim(reply))),
          )

        const touch = (ids: ReadonlyArray<string>) =>
          ids.length === 0
            ? Effect.void
            : cmd
                .call("XCLAIM", [stream, group, consumer, 0, ...ids, "JUSTID"])
                .pipe(Effect.asVoid, Effect.catch(toGroupMissing("XCLAIM")))

        const deliveries = (from: string, to: string, count: number) =>
          cmd.call("XPENDING", [stream, group, from, to, count, consumer]).pipe(
            Effect.catch(toGroupMissing("XPENDING")),
            Effect.flatMap((reply) =>
              unexpected("XPENDING", () => {
                if (!Array.isArray(reply)) throw new UnexpectedReply("XPENDING", reply)
                const counts = new Map<string, number>()
                for (const row of reply as Array<unknown>) {
                  if (!Array.isArray(row) || typeof row[0] !== "string" || typeof row[3] !== "number") {
                    throw new UnexpectedReply("XPENDING", row)
                  }
                  counts.set(row[0], row[3])
                }
                return counts
              }),
            ),
          )

        const deadLetter = (letters: ReadonlyArray<DeadLetter>) => {
          if (letters.length === 0) return Effect.succeed(0)
          const failedAt = String(Date.now())
          const args: Array<string | number> = [DEAD_LETTER_SCRIPT, 3, stream, dlqStream, dlqIdSetKey(dlqStream), group]
          for (const letter of letters) {
            const fields = [
              ...letter.entry.fields,
              "dlq_original_id",
              letter.entry.id,
              "dlq_error_tag",
              letter.errorTag,
              "dlq_error_message",
              letter.errorMessage.slice(0, 2000),
              "dlq_deliveries",
              String(letter.deliveries),
              "dlq_consumer",
              consumer,
              "dlq_stream",
              stream,
              "dlq_failed_at",
              failedAt,
            ]
            args.push(letter.entry.id, fields.length, ...fields)
          }
          return cmd.call("EVAL", args).pipe(
            Effect.map((n) => (typeof n === "number" ? n : 0)),
            Effect.catch(toGroupMissing("EVAL dead-letter")),
          )
        }

        const frontier = cmd
          .transaction([
            ["XPENDING", stream, group],
            ["XINFO", "GROUPS", stream],
          ])
          .pipe(
            Effect.catch(toGroupMissing("MULTI frontier")),
            Effect.flatMap(([pending, groups]) =>
              unexpected("frontier", () => {
                if (!Array.isArray(pending) || typeof pending[0] !== "number" || !Array.isArray(groups)) {
                  throw new UnexpectedReply("XPENDING/XINFO", [pending, groups])
                }
                const oldest: unknown = pending[1]
                if (pending[0] > 0 && typeof oldest === "string") return previousStreamId(oldest)
                for (const raw of groups as Array<unknown>) {
                  const info = parseFlatMap("XINFO GROUPS", raw)
                  if (info.name === group) return String(info["last-delivered-id"])
                }
                throw new UnexpectedReply("XINFO GROUPS (group not listed)", groups)
              }),
            ),
          )

        const pendingSummary = cmd.call("XPENDING", [stream, group]).pipe(
          Effect.catch(toGroupMissing("XPENDING")),
          Effect.flatMap((reply) =>
            unexpected("XPENDING", () => {
              if (!Array.isArray(reply) || typeof reply[0] !== "number") throw new UnexpectedReply("XPENDING", reply)
              const oldest: unknown = reply[1]
              return { count: reply[0], oldestId: typeof oldest === "string" ? oldest : null }
            }),
          ),
        )

        const groupInfo = cmd.call("XINFO", ["GROUPS", stream]).pipe(
          Effect.catchIf(
            (error) => error.reason.includes("no such key"),
            () => Effect.succeed([] as Array<unknown>),
          ),
          Effect.flatMap((reply) =>
            unexpected("XINFO", () => {
              if (!Array.isArray(reply)) throw new UnexpectedReply("XINFO GROUPS", reply)
              for (const raw of reply as Array<unknown>) {
                const info = parseFlatMap("XINFO GROUPS", raw)
                if (info.name !== group) continue
                return {
                  lastDeliveredId: String(info["last-delivered-id"]),
                  lag: typeof info.lag === "number" ? info.lag : null,
                  pending: typeof info.pending === "number" ? info.pending : 0,
                  consumers: typeof info.consumers === "number" ? info.consumers : 0,
                }
              }
              return undefined
            }),
          ),
        )

        const parseGap = (reply: unknown) =>
          unexpected("EVAL gap", () => {
            if (reply === null) return undefined
            if (!Array.isArray(reply) || typeof reply[0] !== "string" || typeof reply[1] !== "string") {
              throw new UnexpectedReply("EVAL gap", reply)
            }
            return new CursorLost({
              fromExclusive: reply[0],
              toInclusive: reply[1],
              lostEntries: typeof reply[2] === "number" ? reply[2] : -1,
            })
          })

        const checkCursor = cmd.call("EVAL", [GAP_SCRIPT, 1, stream, group]).pipe(Effect.flatMap(parseGap))

        // Defined once rather than as an `Effect.gen` inside the flatMap below: a `function*` created per
        // read makes V8 promote what its generator references, i.e. every reply (bench/gcPromotion.ts).
        const readReplies = Effect.fnUntraced(function* (
          acked: Result.Result<number, ConsumerError> | undefined,
          check: Result.Result<unknown, RedisError> | undefined,
          read: Result.Result<unknown, RedisError> | undefined,
        ) {
          if (read === undefined || Result.isFailure(read)) {
            return yield* toGroupMissing("XREADGROUP")(
              read?.failure ?? new RedisError({ command: "XREADGROUP", reason: "no reply" }),
            )
          }
          const reply = read.success
          const entries = yield* unexpected("XREADGROUP", () => {
            if (!(reply instanceof RespTape)) throw new UnexpectedReply("XREADGROUP", reply)
            return parseReadGroup(reply)
          })
          if (check === undefined || Result.isFailure(check)) {
            // After a Redis restart the script cache is empty: load it for the next read. This
            // read's entries are kept; they are already delivered to us.
            if (check?.failure.code === "NOSCRIPT") {
              yield* cmd.call("SCRIPT", ["LOAD", GAP_SCRIPT]).pipe(Effect.ignore)
            } else {
              yield* Effect.logWarning("cursor check failed; reading on").pipe(
                Effect.annotateLogs({ error: check?.failure.message ?? "no reply" }),
              )
            }
            return { entries, lost: undefined, acked }
          }
          return { entries, lost: yield* parseGap(check.success), acked }
        })

        const ackOutcome = (
          reply: Result.Result<unknown, RedisError> | undefined,
        ): Result.Result<number, ConsumerError> => {
          if (reply === undefined) return Result.fail(new RedisError({ command: "XACK", reason: "no reply" }))
          if (Result.isSuccess(reply)) return Result.succeed(ackCount(reply.success))
          return Result.fail(asConsumerError("XACK")(reply.failure))
        }

        const readNew = (count: number, blockMs: number, ack: ReadonlyArray<string> = []) => {
          const check: RedisCommand = ["EVALSHA", GAP_SCRIPT_SHA, 1, stream, group]
          const read = asTape([
            "XREADGROUP",
            "GROUP",
            group,
            consumer,
            "COUNT",
            count,
            "BLOCK",
            blockMs,
            "STREAMS",
            stream,
            ">",
          ])
          return ack.length === 0
            ? redis.blocking
                .pipelineSettled([check, read])
                .pipe(Effect.flatMap(([checked, entries]) => readReplies(undefined, checked, entries)))
            : redis.blocking
                .pipelineSettled([ackCommand(ack), check, read])
                .pipe(Effect.flatMap(([acked, checked, entries]) => readReplies(ackOutcome(acked), checked, entries)))
        }

        const consumers = cmd.call("XINFO", ["CONSUMERS", stream, group]).pipe(
          Effect.catch(toGroupMissing("XINFO")),
          Effect.flatMap((reply) =>
            unexpected("XINFO", () => {
              if (!Array.isArray(reply)) throw new UnexpectedReply("XINFO CONSUMERS", reply)
              return (reply as Array<unknown>).map((raw) => {
                const info = parseFlatMap("XINFO CONSUMERS", raw)
                return {
                  name: String(info.name),
                  pending: typeof info.pending === "number" ? info.pending : 0,
                  idleMs: typeof info.idle === "number" ? info.idle : 0,
                }
              })
            }),
          ),
        )

        const removeConsumer = (name: string) =>
          cmd.call("XGROUP", ["DELCONSUMER", stream, group, name]).pipe(
            Effect.map((n) => (typeof n === "number" ? n : 0)),
            Effect.catch(toGroupMissing("XGROUP")),
          )

        const maxmemoryPolicy = cmd.call("CONFIG", ["GET", "maxmemory-policy"]).pipe(
          Effect.map((reply) => {
            if (!Array.isArray(reply)) return undefined
            const value: unknown = reply[1]
            return typeof value === "string" ? value : undefined
          }),
          Effect.catch(() => Effect.succeed(undefined)),
        )

        const entries = (ids: ReadonlyArray<string>) =>
          ids.length === 0
            ? Effect.succeed(new Map<string, StreamEntry>())
            : cmd.pipeline(ids.map((id): RedisCommand => ["XRANGE", stream, id, id])).pipe(
                Effect.flatMap((replies) =>
                  unexpected("XRANGE", () => {
                    const found = new Map<string, StreamEntry>()
                    for (const reply of replies) {
                      for (const { id, fields } of parseEntries("XRANGE", reply)) {
                        if (fields !== null) found.set(id, { id, fields })
                      }
                    }
                    return found
                  }),
                ),
              )

        return Consumer.of({
          options,
          ensureGroup,
          readPending,
          ack,
          claim,
          touch,
          deliveries,
          deadLetter,
          entries,
          frontier,
          pendingSummary,
          groupInfo,
          checkCursor,
          readNew,
          consumers,
          removeConsumer,
          maxmemoryPolicy,
        })
      }),
    )
}

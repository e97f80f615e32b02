import { Context, Effect, Layer, type Redacted, Schema } from "effect"
import { Consumer } from "../consumer/Consumer.ts"
import { dlqIdSetKey } from "../consumer/deadLetterScript.ts"
import { parseEntries } from "../consumer/replies.ts"
import { streamIdTimeMs } from "../domain/StreamId.ts"
import { connect, RedisClient } from "../redis/RedisClient.ts"
import {
  type ControlCommand,
  type ControlResult,
  controlRequest,
  MIN_CLAIM_IDLE_MS,
  requireReceivers,
} from "./control.ts"
import { type DlqEntry, STREAM_ID, splitDlqFields, toDlqEntry } from "./dlqEntry.ts"
import { asOpsError, ConfirmationRequired, OpsError, OpsInputError } from "./OpsError.ts"
import { TRIM_PROCESSED_SCRIPT } from "./trimScript.ts"

export interface OpsOptions {
  readonly redisUrl: Redacted.Redacted<string>
  readonly stream: string
  readonly group: string
  readonly dlqStream: string
}

export interface ConsumerLag {
  readonly name: string
  readonly pending: number
  readonly idleMs: number
}

export interface LagReport {
  readonly stream: string
  readonly group: string
  readonly dlqStream: string
  readonly streamLength: number
  readonly dlqLength: number
  /** False when the group does not exist (no processor ever started, or cursor loss). */
  readonly groupExists: boolean
  /** Entries not yet delivered to the group; null when Redis cannot tell (after trimming/XDEL). */
  readonly lag: number | null
  /** Delivered, not yet acknowledged. */
  readonly pending: number
  readonly lastDeliveredId: string | null
  readonly oldestPendingId: string | null
  /** Now minus the time the oldest pending entry was added to the stream. */
  readonly oldestPendingAgeMs: number | null
  readonly consumers: ReadonlyArray<ConsumerLag>
}

export type DlqOrder = "newest" | "oldest"

export interface DlqListOptions {
  readonly order: DlqOrder
  /** Exclusive: the page starts after this DLQ id (the previous page's `nextCursor`). */
  readonly cursor?: string | undefined
  readonly count: number
}

export interface DlqPage {
  readonly dlqStream: string
  readonly order: DlqOrder
  readonly entries: ReadonlyArray<DlqEntry>
  /** Pass as `cursor` for the next page; null when this page was the last. */
  readonly nextCursor: string | null
}

export interface DlqReplayOptions {
  /** One DLQ entry; otherwise every entry present when the replay started, oldest first. */
  readonly id?: string | undefined
  /** Only entries dead-lettered with this error tag (e.g. `CodecError` after a decoder fix). */
  readonly errorTag?: string | undefined
  readonly limit?: number | undefined
}

export interface ReplayDetail {
  readonly dlqId: string
  readonly originalId: string | null
  /** The id the entry got on the main stream; absent when skipped. */
  readonly newId?: string
  readonly skipped?: string
}

export interface DlqReplayReport {
  readonly stream: string
  readonly dlqStream: string
  readonly replayed: number
  readonly skipped: number
  /** The first entries handled, for the operator's record (at most REPLAY_DETAILS). */
  readonly details: ReadonlyArray<ReplayDetail>
}

export type DlqPurgeTarget =
  | { readonly kind: "all" }
  | { readonly kind: "id"; readonly id: string }
  | { readonly kind: "olderThan"; readonly ms: number }

export interface DlqPurgeReport {
  readonly dlqStream: string
  readonly removed: number
}

export interface TrimReport {
  readonly stream: string
  readonly removed: number
  /** Entries below this id were removed; it and everything after it are kept. */
  readonly keptFrom: string
}

export class DlqEntryNotFound extends Schema.TaggedError<DlqEntryNotFound>()("DlqEntryNotFound", {
  id: Schema.String,
}) {
  override get message(): string {
    return `no DLQ entry with id ${this.id}`
  }
}

const PAGE = 100
const REPLAY_DETAILS = 100
const MAX_PAGE = 1_000

const validId = (id: string, what: string) =>
  STREAM_ID.test(id)
    ? Effect.succeed(id)
    : Effect.fail(new OpsInputError({ reason: `${what}: not a stream id: ${id.slice(0, 40)}` }))

/**
 * The operations surface over Redis, shared by the CLI (`telemetry lag|dlq|claim|rehydrate`) and
 * the management API (`/admin/...`). Reads never change anything; replay and purge act on the DLQ
 * only; claim and rehydrate are requests to the running processors over the control channel
 * (control.ts), because only a processor can write claimed entries or drop in-memory state.
 */
export class Ops extends Context.Service<
  Ops,
  {
    readonly options: OpsOptions
    readonly lag: Effect.Effect<LagReport, OpsError>
    readonly dlqList: (options: DlqListOptions) => Effect.Effect<DlqPage, OpsError | OpsInputError>
    readonly dlqReplay: (
      options: DlqReplayOptions,
    ) => Effect.Effect<DlqReplayReport, OpsError | OpsInputError | DlqEntryNotFound>
    /** Destructive: fails with ConfirmationRequired unless `confirmed`. */
    readonly dlqPurge: (
      target: DlqPurgeTarget,
      confirmed: boolean,
    ) => Effect.Effect<DlqPurgeReport, OpsError | OpsInputError | ConfirmationRequired>
    /** Destructive: removes the main stream's fully processed entries (trimScript.ts). Fails
     * with ConfirmationRequired unless `confirmed`. */
    readonly trimProcessed: (
      options: { readonly keepMs: number },
      confirmed: boolean,
    ) => Effect.Effect<TrimReport, OpsError | OpsInputError | ConfirmationRequired>
    readonly requestClaim: (
      options: { readonly minIdleMs?: number | undefined; readonly consumer?: string | undefined },
      timeoutMs: number,
    ) => Effect.Effect<ControlResult, OpsError | OpsInputError>
    readonly requestRehydrate: (
      device: string,
      timeoutMs: number,
    ) => Effect.Effect<ControlResult, OpsError | OpsInputError>
  }
>()("telemetry/ops/Ops") {
  /** Over the caller's RedisClient (its command connection; the blocking one is never used). */
  static readonly layer = (options: OpsOptions) =>
    Layer.effect(
      Ops,
      Effect.gen(function* () {
        const redis = yield* RedisClient
        const consumer = yield* Consumer
        const cmd = redis.commands
        const { stream, dlqStream } = options

        const count = (key: string) =>
          cmd.call("XLEN", [key]).pipe(
            Effect.map((n) => (typeof n === "number" ? n : 0)),
            Effect.mapError(asOpsError(`XLEN ${key}`)),
          )

        const lag = Effect.gen(function* () {
          const streamLength = yield* count(stream)
          const dlqLength = yield* count(dlqStream)
          const info = yield* consumer.groupInfo.pipe(Effect.mapError(asOpsError("XINFO GROUPS")))
          const base = { stream, group: options.group, dlqStream, streamLength, dlqLength }
          if (info === undefined) {
            return {
              ...base,
              groupExists: false,
              lag: null,
              pending: 0,
              lastDeliveredId: null,
              oldestPendingId: null,
              oldestPendingAgeMs: null,
              consumers: [],
            } satisfies LagReport
          }
          const pending = yield* consumer.pendingSummary.pipe(Effect.mapError(asOpsError("XPENDING")))
          const consumers = yield* consumer.consumers.pipe(Effect.mapError(asOpsError("XINFO CONSUMERS")))
          return {
            ...base,
            groupExists: true,
            lag: info.lag,
            pending: pending.count,
            lastDeliveredId: info.lastDeliveredId,
            oldestPendingId: pending.oldestId,
            oldestPendingAgeMs:
              pending.oldestId === null ? null : Math.max(0, Date.now() - streamIdTimeMs(pending.oldestId)),
            consumers,
          } satisfies LagReport
        })

        const range = (command: "XRANGE" | "XREVRANGE", args: ReadonlyArray<string | number>) =>
          cmd.call(command, [dlqStream, ...args]).pipe(
            Effect.flatMap((reply) => Effect.try({ try: () => parseEntries(command, reply), catch: (e) => e })),
            Effect.map((entries) => entries.map((e) => ({ id: e.id, fields: e.fields ?? [] }))),
            Effect.mapError(asOpsError(`${command} ${dlqStream}`)),
          )

        const dlqList = Effect.fn("Ops.dlqList")(function* (list: DlqListOptions) {
          if (!Number.isInteger(list.count) || list.count < 1 || list.count > MAX_PAGE) {
            return yield* new OpsInputError({ reason: `count must be an integer in 1..${MAX_PAGE}` })
          }
          const cursor = list.cursor === undefined ? undefined : yield* validId(list.cursor, "cursor")
          const entries =
            list.order === "oldest"
              ? yield* range("XRANGE", [cursor === undefined ? "-" : `(${cursor}`, "+", "COUNT", list.count])
              : yield* range("XREVRANGE", [cursor === undefined ? "+" : `(${cursor}`, "-", "COUNT", list.count])
          const last = entries.at(-1)
          return {
            dlqStream,
            order: list.order,
            entries: entries.map((e) => toDlqEntry(e.id, e.fields)),
            nextCursor: entries.length === list.count && last !== undefined ? last.id : null,
          } satisfies DlqPage
        })

        /**
         * Per entry: XADD the original fields to the main stream, and only once that succeeded,
         * XDEL the DLQ entry (SPEC §3.3). A crash between the two leaves the entry in both places;
         * replaying it again writes the same position twice, which PostgreSQL absorbs as a
         * duplicate. The reverse order could lose it, so it is never used.
         */
        const replayOne = Effect.fnUntraced(function* (id: string, fields: ReadonlyArray<string>) {
          const { original, meta } = splitDlqFields(fields)
          const originalId = meta.dlq_original_id ?? null
          const from = meta.dlq_stream
          if (from !== undefined && from !== stream) {
            return {
              dlqId: id,
              originalId,
              skipped: `dead-lettered from ${from}, not ${stream}`,
            } satisfies ReplayDetail
          }
          if (original.length === 0)
            return { dlqId: id, originalId, skipped: "no original fields" } satisfies ReplayDetail
          const added = yield* cmd.call("XADD", [stream, "*", ...original]).pipe(Effect.mapError(asOpsError("XADD")))
          yield* cmd.call("XDEL", [dlqStream, id]).pipe(
            Effect.mapError(
              (error) =>
                new OpsError({
                  operation: "XDEL",
                  reason: `${id} was replayed as ${String(added)} but could not be removed from the DLQ (it is now in both; replaying it again only adds a duplicate): ${error.reason}`,
                }),
            ),
          )
          return { dlqId: id, originalId, newId: String(added) } satisfies ReplayDetail
        })

        const dlqReplay = Effect.fn("Ops.dlqReplay")(function* (replay: DlqReplayOptions) {
          const limit = replay.limit ?? Number.POSITIVE_INFINITY
          if (!(limit >= 1)) return yield* new OpsInputError({ reason: "limit must be at least 1" })
          const details: Array<ReplayDetail> = []
          let replayed = 0
          let skipped = 0
          const record = (detail: ReplayDetail) => {
            if (detail.skipped === undefined) replayed++
            else skipped++
            if (details.length < REPLAY_DETAILS) details.push(detail)
          }

          if (replay.id !== undefined) {
            const id = yield* validId(replay.id, "id")
            const found = yield* range("XRANGE", [id, id])
            const entry = found[0]
            if (entry === undefined) return yield* new DlqEntryNotFound({ id })
            record(yield* replayOne(entry.id, entry.fields))
          } else {
            // Only what is in the DLQ now: an entry that fails again while we replay lands behind
            // this bound and is not replayed in a loop.
            const newest = yield* range("XREVRANGE", ["+", "-", "COUNT", 1])
            const end = newest[0]?.id
            let cursor = "-"
            while (end !== undefined && replayed < limit) {
              const page = yield* range("XRANGE", [cursor, end, "COUNT", PAGE])
              for (const entry of page) {
                if (replayed >= limit) break
                if (
                  replay.errorTag !== undefined &&
                  splitDlqFields(entry.fields).meta.dlq_error_tag !== replay.errorTag
                )
                  continue
                record(yield* replayOne(entry.id, entry.fields))
              }
              const last = page.at(-1)
              if (page.length < PAGE || last === undefined) break
              cursor = `(${last.id}`
            }
          }
          yield* Effect.logInfo("DLQ replayed").pipe(
            Effect.annotateLogs({ stream, dlqStream, replayed, skipped, errorTag: replay.errorTag ?? "any" }),
          )
          return { stream, dlqStream, replayed, skipped, details } satisfies DlqReplayReport
        })

        const describeTarget = (target: DlqPurgeTarget) =>
          target.kind === "all"
            ? count(dlqStream).pipe(Effect.map((n) => `delete all ${n} entries of ${dlqStream}`))
            : Effect.succeed(
                target.kind === "id"
                  ? `delete entry ${target.id} of ${dlqStream}`
                  : `delete the entries of ${dlqStream} older than ${target.ms} ms`,
              )

        const dlqPurge = Effect.fn("Ops.dlqPurge")(function* (target: DlqPurgeTarget, confirmed: boolean) {
          if (target.kind === "id") yield* validId(target.id, "id")
          if (target.kind === "olderThan" && !(Number.isInteger(target.ms) && target.ms >= 0)) {
            return yield* new OpsInputError({ reason: "older-than must be a non-negative integer of milliseconds" })
          }
          if (!confirmed) return yield* new ConfirmationRequired({ action: yield* describeTarget(target) })
          let removed = 0
          switch (target.kind) {
            case "all": {
              // One transaction, so the count is exactly what DEL removed.
              const [n] = yield* cmd
                .transaction([
                  ["XLEN", dlqStream],
                  ["DEL", dlqStream, dlqIdSetKey(dlqStream)],
                ])
                .pipe(Effect.mapError(asOpsError("DEL")))
              removed = typeof n === "number" ? n : 0
              break
            }
            case "id": {
              const n = yield* cmd.call("XDEL", [dlqStream, target.id]).pipe(Effect.mapError(asOpsError("XDEL")))
              removed = typeof n === "number" ? n : 0
              break
            }
            case "olderThan": {
              const minId = String(Math.max(0, Date.now() - target.ms))
              const n = yield* cmd.call("XTRIM", [dlqStream, "MINID", minId]).pipe(Effect.mapError(asOpsError("XTRIM")))
              removed = typeof n === "number" ? n : 0
              break
            }
          }
          yield* Effect.logInfo("DLQ purged").pipe(Effect.annotateLogs({ dlqStream, kind: target.kind, removed }))
          return { dlqStream, removed } satisfies DlqPurgeReport
        })

        const trimProcessed = Effect.fn("Ops.trimProcessed")(function* (
          trim: { readonly keepMs: number },
          confirmed: boolean,
        ) {
          if (!(Number.isSafeInteger(trim.keepMs) && trim.keepMs >= 0)) {
            return yield* new OpsInputError({ reason: "keep must be a non-negative integer of milliseconds" })
          }
          if (!confirmed) {
            const length = yield* count(stream)
            return yield* new ConfirmationRequired({
              action: `trim the processed entries older than ${trim.keepMs} ms from ${stream} (length ${length}; entries still pending or undelivered are kept)`,
            })
          }
          const floor = trim.keepMs === 0 ? "" : `${Math.max(0, Date.now() - trim.keepMs)}-0`
          const reply = yield* cmd
            .call("EVAL", [TRIM_PROCESSED_SCRIPT, 1, stream, options.group, floor])
            .pipe(Effect.mapError(asOpsError("EVAL trim")))
          if (!Array.isArray(reply) || typeof reply[0] !== "number" || typeof reply[1] !== "string") {
            return yield* new OpsError({
              operation: "trim",
              reason: `consumer group ${options.group} does not exist on ${stream}: nothing is known to be processed`,
            })
          }
          yield* Effect.logInfo("stream trimmed below the processing frontier").pipe(
            Effect.annotateLogs({ stream, removed: reply[0], keptFrom: reply[1], keepMs: trim.keepMs }),
          )
          return { stream, removed: reply[0], keptFrom: reply[1] } satisfies TrimReport
        })

        const control = { redisUrl: options.redisUrl, stream, publisher: cmd }
        const send = (command: ControlCommand, timeoutMs: number) =>
          controlRequest(control, command, timeoutMs).pipe(Effect.flatMap(requireReceivers(stream)))

        const requestClaim = (
          claim: { readonly minIdleMs?: number | undefined; readonly consumer?: string | undefined },
          timeoutMs: number,
        ) => {
          if (
            claim.minIdleMs !== undefined &&
            !(Number.isInteger(claim.minIdleMs) && claim.minIdleMs >= MIN_CLAIM_IDLE_MS)
          ) {
            return Effect.fail(
              new OpsInputError({
                reason: `min-idle must be at least ${MIN_CLAIM_IDLE_MS} ms: entries idle for less may be in a live processor's hands`,
              }),
            )
          }
          return send(
            {
              type: "claim",
              ...(claim.minIdleMs === undefined ? {} : { minIdleMs: claim.minIdleMs }),
              ...(claim.consumer === undefined ? {} : { consumer: claim.consumer }),
            },
            timeoutMs,
          )
        }

        const requestRehydrate = (device: string, timeoutMs: number) =>
          device.length === 0 || device.length > 64
            ? Effect.fail(new OpsInputError({ reason: "device id must be 1–64 characters" }))
            : send({ type: "rehydrate", device }, timeoutMs)

        return Ops.of({ options, lag, dlqList, dlqReplay, dlqPurge, trimProcessed, requestClaim, requestRehydrate })
      }),
    ).pipe(
      // Consumer's read-only views (group info, pending summary, consumers) are reused; the
      // consumer name is never used by them.
      Layer.provide(
        Consumer.layer({
          stream: options.stream,
          group: options.group,
          consumer: "telemetry-ops",
          dlqStream: options.dlqStream,
        }),
      ),
    )

  /** With its own single Redis connection, for the CLI. */
  static readonly layerConnect = (options: OpsOptions) =>
    Ops.layer(options).pipe(
      Layer.provide(
        Layer.effect(
          RedisClient,
          connect(options.redisUrl, "telemetry-ops").pipe(
            Effect.mapError(asOpsError("connect to Redis")),
            Effect.map(({ connection }) =>
              RedisClient.of({
                commands: connection,
                blocking: connection,
                ping: connection.call("PING", []).pipe(Effect.asVoid),
              }),
            ),
          ),
        ),
      ),
    )
}

import { Context, Effect, Layer, Metric } from "effect"
import { Consumer, type ConsumerError, type CursorLost } from "../consumer/Consumer.ts"
import * as M from "../metrics/processorMetrics.ts"
import { Checkpoints } from "./Checkpoints.ts"
import { retryTransient } from "./retry.ts"

/**
 * Cursor loss, SPEC §4.9. `recover` recreates a vanished consumer group at the checkpointed
 * frontier (entries after it are re-read; the ones already written come back as duplicates).
 * `checkCursor` detects entries trimmed before the group was given them: the typed CursorLost is
 * logged with the lost range, counted, recorded in `stream_gaps`, and reading goes on from the
 * oldest retained entry. Neither ever loops on a stale cursor.
 */
export class GroupRecovery extends Context.Service<
  GroupRecovery,
  {
    readonly recover: Effect.Effect<void>
    readonly checkCursor: Effect.Effect<void>
    /** Logs, counts and records a loss found by `Consumer.readNew`. */
    readonly report: (lost: CursorLost) => Effect.Effect<void>
    /** A Redis call that must happen: retried through outages and through a lost group (after the
     * group is recreated, an ack of an entry the new group never delivered is a harmless no-op). */
    readonly resilient: <A>(operation: string, effect: Effect.Effect<A, ConsumerError>) => Effect.Effect<A>
  }
>()("telemetry/processor/GroupRecovery") {
  static readonly layer = Layer.effect(
    GroupRecovery,
    Effect.gen(function* () {
      const consumer = yield* Consumer
      const checkpoints = yield* Checkpoints

      const report = (lost: CursorLost) =>
        Effect.gen(function* () {
          yield* Effect.logError(lost.message).pipe(
            Effect.annotateLogs({
              error: lost._tag,
              stream: consumer.options.stream,
              group: consumer.options.group,
              fromExclusive: lost.fromExclusive,
              toInclusive: lost.toInclusive,
              lostEntries: lost.lostEntries,
            }),
          )
          yield* Metric.update(M.cursorLosses, 1)
          if (lost.lostEntries > 0) yield* Metric.update(M.cursorLostEntries, lost.lostEntries)
          yield* retryTransient(
            "postgres",
            "record stream gap",
            checkpoints.recordGap({
              kind: "trimmed",
              firstId: lost.fromExclusive,
              lastId: lost.toInclusive,
              entryCount: lost.lostEntries >= 0 ? lost.lostEntries : null,
            }),
          )
        })

      const checkCursor = retryTransient("redis", "cursor check", consumer.checkCursor).pipe(
        Effect.flatMap((lost) => (lost === undefined ? Effect.void : report(lost))),
      )

      const recover = Effect.gen(function* () {
        const checkpoint = yield* retryTransient("postgres", "load checkpoint", checkpoints.load)
        const created = yield* retryTransient("redis", "create consumer group", consumer.ensureGroup(checkpoint ?? "0"))
        if (created && checkpoint === undefined) {
          yield* Effect.logInfo("consumer group created at the start of the stream").pipe(
            Effect.annotateLogs({ group: consumer.options.group }),
          )
        } else if (created) {
          yield* Metric.update(M.groupRecreated, 1)
          yield* Effect.logWarning("consumer group was missing; recreated from the checkpoint").pipe(
            Effect.annotateLogs({ group: consumer.options.group, startAfter: checkpoint }),
          )
        }
        yield* checkCursor
      })

      const resilient = <A>(operation: string, effect: Effect.Effect<A, ConsumerError>) =>
        retryTransient(
          "redis",
          operation,
          effect.pipe(Effect.catchTag("GroupMissing", (missing) => recover.pipe(Effect.andThen(Effect.fail(missing))))),
        )

      return GroupRecovery.of({ recover, checkCursor, report, resilient })
    }),
  )
}

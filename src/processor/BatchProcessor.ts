import { Context, Duration, Effect, Layer, LogLevel, Metric, Schedule } from "effect"
import { Consumer, type DeadLetter } from "../consumer/Consumer.ts"
import type { EntryBlock } from "../consumer/replies.ts"
import { Decoder } from "../decoder/Decoder.ts"
import { inOrder } from "../domain/PositionBatch.ts"
import { streamIdTimeMs } from "../domain/StreamId.ts"
import * as M from "../metrics/processorMetrics.ts"
import { registerRecordHistogram } from "../metrics/RecordHistogram.ts"
import { StateStore } from "../state/StateStore.ts"
import { type EncodedBatch, type FailedRecord, Writer } from "../writer/Writer.ts"
import { GroupRecovery } from "./GroupRecovery.ts"
import { retryTransient } from "./retry.ts"

export type BatchSource = "new" | "pending" | "claimed"

/** How many times an entry has been delivered: new entries once, re-read and claimed ones as Redis
 * counted them. */
const deliveriesOf = (deliveries: ReadonlyMap<string, number> | undefined, id: string): number =>
  deliveries?.get(id) ?? 1

/** Several metric updates of one batch in one step, instead of an effect each. */
const countAll = (update: (services: Context.Context<never>) => void) =>
  Effect.contextWith((services: Context.Context<never>) => {
    update(services)
    return Effect.void
  })

export interface Batch {
  readonly source: BatchSource
  readonly entries: EntryBlock
  /** Delivery counts, for re-read and claimed entries (new ones have been delivered once). */
  readonly deliveries?: ReadonlyMap<string, number>
}

/** A batch being written, for the heartbeat. */
interface InFlight {
  readonly streamIds: ReadonlyArray<string>
  readonly since: number
}

export interface BatchOutcome {
  readonly inserted: number
  readonly duplicate: number
  readonly deadLettered: number
  readonly deleted: number
}

/** A batch written (and its dead letters moved): what is left is acknowledging `ackIds`. */
export interface WrittenBatch extends BatchOutcome {
  /** The entries stored (inserted or duplicate), in stream order. */
  readonly ackIds: Array<string>
}

export interface BatchProcessorOptions {
  readonly maxDeliveries: number
  readonly claimThresholdMs: number
}

/** A batch after the steps before its write: entries decoded, applied to the device state and
 * encoded for PostgreSQL, or sorted out as dead letters. It holds no entry or position of its own
 * (see Writer's EncodedBatch): a batch waiting for a connection is its ids and bytes. */
export interface PreparedBatch {
  readonly source: BatchSource
  readonly entryCount: number
  readonly encoded: EncodedBatch
  readonly letters: Array<DeadLetter>
  readonly deleted: number
  readonly deliveries: ReadonlyMap<string, number> | undefined
}

/**
 * One batch through the stages, in order: drop entries deleted while pending → dead-letter entries
 * past MAX_DELIVERIES → decode → state → write → dead-letter rejected records → acknowledge what was
 * written. Transient failures are retried in place; permanent ones (undecodable entry, row
 * rejected by PostgreSQL) go to the DLQ with the reason. Nothing is acknowledged that was not
 * written or dead-lettered.
 */
export class BatchProcessor extends Context.Service<
  BatchProcessor,
  {
    /** Everything before the device state and the write: the read loop runs it for the next batch
     * while earlier batches are being written, so PostgreSQL is not kept waiting on decoding. */
    readonly prepare: (batch: Batch) => Effect.Effect<PreparedBatch>
    /** Write and dead letters: everything but the acknowledgement of what was written. */
    readonly write: (prepared: PreparedBatch) => Effect.Effect<WrittenBatch>
    /** XACK of written entries (retried until it succeeds), counted. */
    readonly acknowledge: (ids: ReadonlyArray<string>) => Effect.Effect<void>
    /** Counts entries acknowledged elsewhere (the read loop sends an XACK with its next read):
     * `acked` of `ids` were still pending. */
    readonly acknowledged: (ids: ReadonlyArray<string>, acked: number) => Effect.Effect<void>
    /** prepare, write, then acknowledge (the claim pass's way). */
    readonly process: (batch: Batch) => Effect.Effect<BatchOutcome>
  }
>()("telemetry/processor/BatchProcessor") {
  static readonly layer = (options: BatchProcessorOptions) =>
    Layer.effect(
      BatchProcessor,
      Effect.gen(function* () {
        const consumer = yield* Consumer
        const decoder = yield* Decoder
        const state = yield* StateStore
        const writer = yield* Writer
        const recovery = yield* GroupRecovery

        const redisMust = recovery.resilient
        const endToEnd = yield* registerRecordHistogram(M.endToEndSeconds)
        // Decided once: annotating a log entry copies the fiber's context, per batch, even when the
        // entry is then filtered out.
        const debugLogs = yield* LogLevel.isEnabled("Debug")

        // Keeps slow batches' entries from looking idle, so no peer claims them mid-write: one fiber
        // for all batches, touching (XCLAIM JUSTID) the entries of every batch that has been in
        // flight for a beat or more, each beat. A beat is a third of the claim threshold, so an
        // entry is touched within two beats of its write starting and every beat after.
        const beatMs = Math.max(100, options.claimThresholdMs / 3)
        // An array, not a Set: see Processor.ts on sets that hold batches.
        const writing: Array<InFlight> = []
        const touchSlowBatches = Effect.suspend(() => {
          const now = Date.now()
          // The ids are listed only when a batch is slow enough to need it.
          const ids: Array<string> = []
          for (const batch of writing) {
            if (now - batch.since >= beatMs) for (const id of batch.streamIds) ids.push(id)
          }
          if (ids.length === 0) return Effect.void
          return consumer.touch(ids).pipe(
            // Harmless to miss one: the next beat touches them again, and a peer that claims a slow
            // batch meanwhile writes the same rows (ON CONFLICT) and acknowledges them.
            Effect.catch((error) =>
              Effect.logWarning("could not keep slow batches' entries claimed").pipe(
                Effect.annotateLogs({ entries: ids.length, error: error.message }),
              ),
            ),
          )
        })
        yield* touchSlowBatches.pipe(
          Effect.repeat(Schedule.spaced(Duration.millis(beatMs))),
          Effect.forkScoped({ startImmediately: true }),
        )
        /** Registers the entries `streamIds` with the heartbeat while `effect` runs. */
        const whileWriting = <A, E, R>(streamIds: ReadonlyArray<string>, effect: Effect.Effect<A, E, R>) =>
          Effect.suspend(() => {
            const batch: InFlight = { streamIds, since: Date.now() }
            writing.push(batch)
            return Effect.ensuring(
              effect,
              Effect.sync(() => {
                const at = writing.indexOf(batch)
                if (at === -1) return
                const last = writing.pop() as InFlight
                if (at < writing.length) writing[at] = last
              }),
            )
          })

        // The steps below are generator functions defined once, here: a `function*` written inside a
        // per-batch callback makes V8 promote what its generator references, i.e. the batch
        // (bench/gcPromotion.ts).
        const timedWrite = Effect.fnUntraced(function* (encoded: EncodedBatch) {
          const started = Date.now()
          const report = yield* retryTransient("postgres", "write batch", writer.write(encoded))
          return { report, writeSeconds: (Date.now() - started) / 1000 }
        })

        /** Rows PostgreSQL rejected on their own, as dead letters: their entries are read back from
         * the stream (a prepared batch keeps none); one deleted meanwhile is dead-lettered with the
         * position it was decoded to, so that it is not lost either. */
        const rejectedLetters = Effect.fnUntraced(function* (
          failed: ReadonlyArray<FailedRecord>,
          deliveries: ReadonlyMap<string, number> | undefined,
        ) {
          const entries = yield* redisMust(
            "read rejected entries",
            consumer.entries(failed.map((f) => f.position.streamId)),
          )
          return failed.map(
            ({ position, error }): DeadLetter => ({
              entry: entries.get(position.streamId) ?? {
                id: position.streamId,
                fields: ["decoded_position", JSON.stringify(position)],
              },
              errorTag: error._tag,
              errorMessage: error.reason,
              deliveries: deliveriesOf(deliveries, position.streamId),
            }),
          )
        })

        /** A dead letter of entry `i` of `block`, its fields as stored. */
        const letterOf = (block: EntryBlock, i: number, errorTag: string, errorMessage: string, deliveries: number) => {
          const { id, fields } = block.entry(i)
          return { entry: { id, fields: fields ?? [] }, errorTag, errorMessage, deliveries } satisfies DeadLetter
        }

        const prepareBlock = Effect.fnUntraced(function* (batch: Batch) {
          const block = batch.entries
          // Entries deleted while pending and entries delivered too often are sorted out first;
          // `live` lists the others only when there are such entries (a new read has none).
          let live: Array<number> | undefined
          const deleted: Array<string> = []
          const letters: Array<DeadLetter> = []
          for (let i = 0; i < block.length; i++) {
            const deliveries = deliveriesOf(batch.deliveries, block.ids[i] as string)
            if (block.isDeleted(i) || deliveries > options.maxDeliveries) {
              live ??= inOrder(i)
              if (block.isDeleted(i)) deleted.push(block.ids[i] as string)
              else {
                const reason = `delivered ${deliveries} times without being written (MAX_DELIVERIES=${options.maxDeliveries})`
                letters.push(letterOf(block, i, "MaxDeliveriesExceeded", reason, deliveries))
              }
            } else live?.push(i)
          }
          if (deleted.length > 0) {
            yield* Effect.logWarning("pending entries were deleted from the stream before they were processed").pipe(
              Effect.annotateLogs({
                source: batch.source,
                count: deleted.length,
                first: deleted[0],
                last: deleted.at(-1),
              }),
            )
            yield* Metric.update(M.claimedDeleted, deleted.length)
            yield* redisMust("XACK deleted entries", consumer.ack(deleted))
          }

          const { positions, failures } = decoder.decode(block, live)
          yield* countAll((services) => {
            M.recordsRead.updateUnsafe(block.length, services)
            M.decodedOk.updateUnsafe(positions.length, services)
          })
          if (failures.length > 0) {
            yield* Metric.update(M.decodedError, failures.length)
            const rowOf = new Map(block.ids.map((id, i) => [id, i]))
            for (const failure of failures) {
              const i = rowOf.get(failure.entryId)
              if (i !== undefined) {
                const deliveries = deliveriesOf(batch.deliveries, failure.entryId)
                letters.push(letterOf(block, i, failure._tag, failure.reason, deliveries))
              }
            }
          }
          // The state in read order, before the write: a record rejected by PostgreSQL was still
          // seen from its device, as before.
          if (positions.length > 0) {
            yield* retryTransient("postgres", "rehydrate device state", state.observeBatch(positions))
          }
          return {
            source: batch.source,
            entryCount: block.length,
            encoded: writer.encode(positions),
            letters,
            deleted: deleted.length,
            deliveries: batch.deliveries,
          } satisfies PreparedBatch
        })

        // The prepared batch holds copies (encoded rows, dead letters' fields), nothing of the read's
        // reply: its buffers go back to the connection for the next read, however prepare ends.
        const prepare = (batch: Batch) =>
          Effect.ensuring(
            prepareBlock(batch),
            Effect.sync(() => batch.entries.release()),
          )

        const write = Effect.fnUntraced(function* (prepared: PreparedBatch) {
          const { encoded, letters } = prepared
          let inserted = 0
          let duplicate = 0
          let ackIds: Array<string> = []
          if (encoded.streamIds.length > 0) {
            const { report, writeSeconds } = yield* whileWriting(encoded.streamIds, timedWrite(encoded))
            inserted = report.inserted
            duplicate = report.written.length - report.inserted
            ackIds = report.written
            yield* countAll((services) => {
              M.batchWriteSeconds.updateUnsafe(writeSeconds, services)
              M.writtenInserted.updateUnsafe(inserted, services)
              M.writtenDuplicate.updateUnsafe(duplicate, services)
            })
            if (report.failed.length > 0) {
              yield* Metric.update(M.writtenFailed, report.failed.length)
              letters.push(...(yield* rejectedLetters(report.failed, prepared.deliveries)))
            }
          }

          let deadLettered = 0
          if (letters.length > 0) {
            deadLettered = yield* redisMust("dead-letter", consumer.deadLetter(letters))
            yield* Metric.update(M.recordsDeadLettered, deadLettered)
            yield* Effect.logWarning("entries moved to the dead-letter stream").pipe(
              Effect.annotateLogs({
                count: letters.length,
                moved: deadLettered,
                dlq: consumer.options.dlqStream,
                reasons: letters.slice(0, 5).map((l) => `${l.entry.id} ${l.errorTag}: ${l.errorMessage.slice(0, 200)}`),
              }),
            )
          }

          if (debugLogs) {
            yield* Effect.logDebug("batch written").pipe(
              Effect.annotateLogs({
                source: prepared.source,
                entries: prepared.entryCount,
                inserted,
                duplicate,
                deadLettered,
              }),
            )
          }
          return { inserted, duplicate, deadLettered, deleted: prepared.deleted, ackIds } satisfies WrittenBatch
        })

        const acknowledged = (ids: ReadonlyArray<string>, acked: number) =>
          countAll((services) => {
            M.recordsAcked.updateUnsafe(acked, services)
            // One observation per record, without an effect or an allocation per record.
            const now = Date.now()
            for (const id of ids) endToEnd.observe((now - streamIdTimeMs(id)) / 1000)
          })

        const acknowledge = (ids: ReadonlyArray<string>) =>
          ids.length === 0
            ? Effect.void
            : Effect.flatMap(redisMust("XACK", consumer.ack(ids)), (acked) => acknowledged(ids, acked))

        const commit = (prepared: PreparedBatch) =>
          Effect.flatMap(
            write(prepared),
            (written): Effect.Effect<BatchOutcome> => Effect.as(acknowledge(written.ackIds), written),
          )

        return BatchProcessor.of({
          prepare,
          write,
          acknowledge,
          acknowledged,
          process: (batch) => Effect.flatMap(prepare(batch), commit),
        })
      }),
    )
}

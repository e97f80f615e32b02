import { Deferred, Duration, Effect, Latch, Metric, Queue, Result, Schedule, Stream } from "effect"
import { Consumer, type ConsumerError } from "../consumer/Consumer.ts"
import { EntryBlock } from "../consumer/replies.ts"
import * as M from "../metrics/processorMetrics.ts"
import { RedisClient } from "../redis/RedisClient.ts"
import { HeapPolicy } from "../runtime/HeapPolicy.ts"
import { StateStore } from "../state/StateStore.ts"
import { type Batch, BatchProcessor, type PreparedBatch } from "./BatchProcessor.ts"
import { Checkpoints } from "./Checkpoints.ts"
import { claimPass } from "./claimPass.ts"
import { GroupRecovery } from "./GroupRecovery.ts"
import { Heartbeat } from "./Heartbeat.ts"
import { retryTransient } from "./retry.ts"

export interface ProcessorOptions {
  readonly readCount: number
  readonly readBlockMs: number
  readonly writeConcurrency: number
  readonly claimThresholdMs: number
  readonly claimIntervalMs: number
  /** How often the frontier is checkpointed and lag/pending sampled. */
  readonly checkpointIntervalMs: number
  /** Consumers idle this long with nothing pending are removed from the group. */
  readonly consumerIdleRemoveMs: number
}

const EMPTY: Batch = { source: "new", entries: EntryBlock.empty }

/**
 * The processor's long-running work, run by the main fiber. Interrupting it (SIGTERM) interrupts
 * the read loop; batches already read finish writing and acknowledging (they are uninterruptible);
 * then main's layers release Redis and PostgreSQL. A defect in any part ends all of it, and the
 * process exits non-zero for the orchestrator to restart.
 *
 * - read loop: this consumer's own pending entries first (cursor "0"), then new ones (">").
 *   With a backlog, `writeConcurrency` batches in flight: reading the next batch overlaps writing
 *   the previous; at a steady load, read, commit, and acknowledge with the next read. When
 *   PostgreSQL is down the in-flight batches retry in place and reading pauses.
 * - claim runner: on start and every CLAIM_INTERVAL_MS, XAUTOCLAIM entries idle past the
 *   threshold (a dead peer's) through the same BatchProcessor; tidies idle empty consumers.
 * - checkpointer: persists the frontier for group recovery; samples lag, pending and state size.
 */
export const runProcessor = (options: ProcessorOptions) =>
  Effect.gen(function* () {
    const consumer = yield* Consumer
    const processor = yield* BatchProcessor
    const recovery = yield* GroupRecovery
    const checkpoints = yield* Checkpoints
    const state = yield* StateStore
    const heartbeat = yield* Heartbeat
    const redis = yield* RedisClient
    const heap = yield* HeapPolicy
    const { stream, group, consumer: name } = consumer.options

    const policy = yield* consumer.maxmemoryPolicy
    if (policy !== undefined && policy !== "noeviction") {
      yield* Effect.logError(
        `Redis maxmemory-policy is "${policy}", not "noeviction": under memory pressure Redis may evict the stream and lose unprocessed positions`,
      ).pipe(Effect.annotateLogs({ maxmemoryPolicy: policy }))
    }
    yield* recovery.recover

    const resilient = recovery.resilient

    const withDeliveries = (source: Batch["source"], entries: EntryBlock) => {
      const first = entries.ids[0]
      const last = entries.ids.at(-1)
      if (first === undefined || last === undefined) return Effect.succeed<Batch>({ source, entries })
      return resilient("XPENDING deliveries", consumer.deliveries(first, last, entries.length * 10)).pipe(
        Effect.map((deliveries): Batch => ({ source, entries, deliveries })),
      )
    }

    // Batches read but not yet committed, and a latch that is open when there are none.
    let uncommitted = 0
    const allCommitted = yield* Latch.make(true)
    const readAhead = () => {
      uncommitted++
      allCommitted.closeUnsafe()
    }
    const committed = Effect.sync(() => {
      // A finished commit is progress too: without a backlog the reader waits on commits.
      heartbeat.beat()
      if (--uncommitted === 0) allCommitted.openUnsafe()
    })
    /** Whether the last read of new entries came back full: a backlog. */
    let backlog = true
    // Without a backlog the reader reads again only once every batch it read is committed
    // (`nextBatch`), so a batch written then is not acknowledged on a round trip of its own: its ids
    // wait here for that read and go in the same round trip, ahead of it (Consumer.readNew). At
    // 5,000 msg/s that is one socket write, reply and fiber resumption fewer per batch.
    let ackWithNextRead: Array<string> = []
    const takeAcks = () => {
      const ids = ackWithNextRead
      ackWithNextRead = []
      return ids
    }
    /** Ids that did not get their acknowledgement (the read carrying it was interrupted) go back. */
    const returnAcks = (ids: Array<string>) =>
      Effect.sync(() => {
        if (ids.length > 0) ackWithNextRead = ids.concat(ackWithNextRead)
      })
    const settleAcks = (ids: ReadonlyArray<string>, acked: Result.Result<number, ConsumerError> | undefined) =>
      acked === undefined
        ? Effect.void
        : Result.isSuccess(acked)
          ? processor.acknowledged(ids, acked.success)
          : // The read's entries are ours whatever happened to the XACK ahead of them: retry it alone.
            Effect.logWarning("acknowledging with the read failed; acknowledging on its own").pipe(
              Effect.annotateLogs({ entries: ids.length, error: acked.failure.message }),
              Effect.andThen(processor.acknowledge(ids)),
            )

    const ownPendingDone = yield* Deferred.make<void>()
    let pendingCursor: string | undefined = "0"
    const readNext: Effect.Effect<Batch> = Effect.suspend(() => {
      heartbeat.beat()
      const cursor = pendingCursor
      if (cursor !== undefined) {
        return resilient("XREADGROUP pending", consumer.readPending(cursor, options.readCount)).pipe(
          Effect.flatMap((entries) => {
            const last = entries.ids.at(-1)
            if (last === undefined) {
              pendingCursor = undefined
              return Effect.logInfo("own pending entries re-read; reading new entries").pipe(
                Effect.andThen(Deferred.succeed(ownPendingDone, undefined)),
                Effect.as(EMPTY),
              )
            }
            pendingCursor = last
            return withDeliveries("pending", entries)
          }),
        )
      }
      const acks = takeAcks()
      let settling = false
      return resilient("XREADGROUP", consumer.readNew(options.readCount, options.readBlockMs, acks)).pipe(
        Effect.tap(({ acked }) =>
          Effect.uninterruptible(
            Effect.suspend(() => {
              settling = true
              return settleAcks(acks, acked)
            }),
          ),
        ),
        Effect.onInterrupt(() => (settling ? Effect.void : returnAcks(acks))),
        Effect.tap(({ lost }) => (lost === undefined ? Effect.void : recovery.report(lost))),
        Effect.flatMap(({ entries }) => {
          const batch: Batch = { source: "new", entries }
          const full = entries.length >= options.readCount
          if (full === backlog) return Effect.succeed(batch)
          backlog = full
          heap.backlogChanged(full)
          return Effect.logDebug(full ? "draining a backlog" : "caught up").pipe(Effect.as(batch))
        }),
      )
    })

    // Without a backlog, the next read waits until every batch read so far is committed: entries
    // that arrive meanwhile make one batch instead of one tiny batch per arrival (each batch cost
    // three round trips and ~0.5 ms of CPU then: at 5,000 msg/s, reading ahead took 60% of a core;
    // session 10 measured it again with a 2 ms bound on the wait: +12% CPU per entry, p99 no better).
    const nextBatch: Effect.Effect<Batch> = Effect.suspend(() =>
      backlog || pendingCursor !== undefined ? readNext : allCommitted.await.pipe(Effect.andThen(readNext)),
    )

    // With a backlog, the reader stays one prepared batch ahead of the writers, so that a writer
    // that finishes finds its next batch read and decoded, and PostgreSQL always has
    // `writeConcurrency` statements to work on. A prepared batch not yet written when the loop is
    // interrupted stays pending in the group and is re-read on start.
    //
    // The writers are `writeConcurrency` fibers that live as long as the loop, not a fiber forked per
    // batch: every fork and exit adds to and deletes from the parent fiber's set of children, and a
    // long-lived set that V8 rehashes while it holds batches keeps them alive into the old
    // generation (bench/gcPromotion.ts, `set-rehash`).
    //
    // Without a backlog the reader commits the batch itself: it would wait for the commit before
    // reading again anyway, and handing the batch to a writer fiber and being woken by its commit
    // are two more trips through the scheduler per batch.
    const prepared = yield* Queue.bounded<PreparedBatch>(1)
    // Decided when the write is done: with a backlog the reader does not wait for commits, so the
    // batch is acknowledged at once; without one, with the reader's next read (see ackWithNextRead).
    const commitReady = (ready: PreparedBatch) =>
      Effect.flatMap(processor.write(ready), ({ ackIds }) => {
        if (backlog) return processor.acknowledge(ackIds)
        for (const id of ackIds) ackWithNextRead.push(id)
        return Effect.void
      })
    const handOver = (ready: PreparedBatch) =>
      backlog
        ? Effect.andThen(Effect.sync(readAhead), Queue.offer(prepared, ready))
        : Effect.uninterruptible(commitReady(ready))
    const reader = Stream.fromEffectRepeat(nextBatch).pipe(
      Stream.filter((batch) => batch.entries.length > 0),
      Stream.runForEach((batch) => Effect.flatMap(processor.prepare(batch), handOver)),
    )
    const writer = Effect.forever(
      Queue.take(prepared).pipe(
        Effect.flatMap((ready) => Effect.uninterruptible(commitReady(ready).pipe(Effect.ensuring(committed)))),
      ),
    )
    // On shutdown (or a defect), after every write in flight is done: what waited for a next read.
    const ackLeftOver = Effect.suspend(() => processor.acknowledge(takeAcks()))
    const readLoop = Effect.all([reader, ...Array.from({ length: options.writeConcurrency }, () => writer)], {
      concurrency: "unbounded",
      discard: true,
    }).pipe(Effect.ensuring(ackLeftOver))

    const claimOnce = Effect.gen(function* () {
      yield* resilient(
        "claim pass",
        claimPass({ minIdleMs: options.claimThresholdMs, count: options.readCount }).pipe(
          Effect.provideService(Consumer, consumer),
          Effect.provideService(BatchProcessor, processor),
          Effect.provideService(RedisClient, redis),
        ),
      )

      const members = yield* resilient("XINFO CONSUMERS", consumer.consumers)
      for (const member of members) {
        if (member.name !== name && member.pending === 0 && member.idleMs > options.consumerIdleRemoveMs) {
          yield* resilient("XGROUP DELCONSUMER", consumer.removeConsumer(member.name))
          yield* Effect.logInfo("removed idle consumer with nothing pending").pipe(
            Effect.annotateLogs({ consumer: member.name, idleMs: member.idleMs }),
          )
        }
      }
    })

    // Own pending entries are re-read by the read loop first, so that the claim runner never
    // works on the same entries at the same time.
    const claimRunner = Deferred.await(ownPendingDone).pipe(
      Effect.andThen(claimOnce),
      Effect.repeat(Schedule.spaced(Duration.millis(options.claimIntervalMs))),
    )

    let evictionsReported = 0
    const checkpointOnce = Effect.gen(function* () {
      const frontier = yield* resilient("checkpoint frontier", consumer.frontier)
      yield* retryTransient("postgres", "save checkpoint", checkpoints.save(frontier))
      const info = yield* retryTransient("redis", "XINFO GROUPS", consumer.groupInfo)
      if (info !== undefined) {
        if (info.lag !== null) yield* Metric.update(M.groupLag, info.lag)
        yield* Metric.update(M.groupPending, info.pending)
      }
      const stats = state.stats()
      yield* Metric.update(M.stateDevices, stats.size)
      yield* Metric.update(M.stateEvictions, stats.evictions - evictionsReported)
      evictionsReported = stats.evictions
    })

    const checkpointer = checkpointOnce.pipe(
      Effect.delay(Duration.millis(options.checkpointIntervalMs)),
      Effect.repeat(Schedule.spaced(Duration.millis(options.checkpointIntervalMs))),
    )

    yield* Effect.logInfo("processor started").pipe(Effect.annotateLogs({ stream, group, consumer: name, ...options }))
    return yield* Effect.all([readLoop, claimRunner, checkpointer], { concurrency: "unbounded", discard: true }).pipe(
      Effect.onInterrupt(() =>
        Effect.logInfo("processor stopped: reading interrupted, in-flight batches written and acknowledged"),
      ),
    )
  })

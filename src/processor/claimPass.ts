import { Effect, Metric } from "effect"
import { Consumer, type ConsumerError } from "../consumer/Consumer.ts"
import { EntryBlock, UnexpectedReply } from "../consumer/replies.ts"
import * as M from "../metrics/processorMetrics.ts"
import { RedisClient } from "../redis/RedisClient.ts"
import { RedisError } from "../redis/RedisError.ts"
import { type Batch, BatchProcessor } from "./BatchProcessor.ts"

export interface ClaimPassOptions {
  /** Only entries idle at least this long are taken (never below a second: see control.ts). */
  readonly minIdleMs: number
  /** Entries per XAUTOCLAIM/XCLAIM round, and so per batch (READ_COUNT). */
  readonly count: number
  /** Only this consumer's pending entries (a dead instance), instead of any idle entry. */
  readonly fromConsumer?: string | undefined
}

export interface ClaimPassReport {
  readonly claimed: number
  readonly inserted: number
  readonly duplicate: number
  readonly deadLettered: number
  /** Pending entries found deleted from the stream (trimmed); acknowledged and counted. */
  readonly deleted: number
}

/**
 * One claim pass inside a processor (the only place that can write what it claims), scheduled
 * every CLAIM_INTERVAL_MS or asked for by `telemetry claim`: the entries go through the same
 * BatchProcessor as the read loop, so decode, MAX_DELIVERIES, dead-lettering and acknowledgement
 * behave exactly as there. Redis failures come back typed; the caller retries or reports them.
 *
 * Several processors may run a pass at once (the CLI asks all of them): XAUTOCLAIM and XCLAIM
 * reset an entry's idle time atomically, so an entry one processor took is no longer idle enough
 * for another's pass. That is why `minIdleMs` has a floor.
 */
export const claimPass = Effect.fn("claimPass")(function* (options: ClaimPassOptions) {
  const consumer = yield* Consumer
  const processor = yield* BatchProcessor
  const redis = yield* RedisClient
  const { stream, group, consumer: self } = consumer.options
  const total = { claimed: 0, inserted: 0, duplicate: 0, deadLettered: 0, deleted: 0 }

  const run = Effect.fnUntraced(function* (entries: EntryBlock): Effect.fn.Return<void, ConsumerError> {
    const first = entries.ids[0]
    const last = entries.ids.at(-1)
    if (first === undefined || last === undefined) return
    total.claimed += entries.length
    yield* Metric.update(M.recordsClaimed, entries.length)
    const deliveries = yield* consumer.deliveries(first, last, entries.length * 10)
    const batch: Batch = { source: "claimed", entries, deliveries }
    const outcome = yield* Effect.uninterruptible(processor.process(batch))
    total.inserted += outcome.inserted
    total.duplicate += outcome.duplicate
    total.deadLettered += outcome.deadLettered
    total.deleted += outcome.deleted
  })

  const from = options.fromConsumer
  if (from === undefined) {
    let start = "0-0"
    do {
      const reply = yield* consumer.claim(options.minIdleMs, start, options.count)
      if (reply.deleted.length > 0) {
        total.deleted += reply.deleted.length
        yield* Metric.update(M.claimedDeleted, reply.deleted.length)
        yield* Effect.logWarning("claimable entries were deleted from the stream before they were processed").pipe(
          Effect.annotateLogs({ count: reply.deleted.length, first: reply.deleted[0], last: reply.deleted.at(-1) }),
        )
      }
      yield* run(reply.entries)
      start = reply.next
    } while (start !== "0-0")
  } else {
    // XAUTOCLAIM cannot filter by owner: list that consumer's idle entries, then XCLAIM exactly
    // those (XCLAIM re-checks the idle time, so a peer that took one first wins it).
    while (true) {
      const pending = yield* redis.commands.call("XPENDING", [
        stream,
        group,
        "IDLE",
        options.minIdleMs,
        "-",
        "+",
        options.count,
        from,
      ])
      const ids = Array.isArray(pending)
        ? (pending as Array<unknown>).flatMap((row) =>
            Array.isArray(row) && typeof row[0] === "string" ? [row[0]] : [],
          )
        : []
      if (ids.length === 0) break
      const reply = yield* redis.commands.callTape("XCLAIM", [stream, group, self, options.minIdleMs, ...ids])
      const entries = yield* Effect.try({
        try: () => EntryBlock.fromTape("XCLAIM", reply, 0),
        catch: (error) =>
          new RedisError({
            command: "XCLAIM",
            reason: error instanceof UnexpectedReply ? error.message : String(error),
          }),
      })
      yield* run(entries)
      // XCLAIM returns neither entries a peer took first nor ones deleted from the stream (it drops
      // those from the PEL). Nothing returned means no progress for us: stop rather than spin on a
      // consumer that is alive after all and keeps its entries fresh.
      if (entries.length === 0) break
    }
  }
  if (total.claimed > 0) {
    yield* Effect.logInfo("claimed idle entries").pipe(
      Effect.annotateLogs({ ...total, minIdleMs: options.minIdleMs, fromConsumer: from ?? "any" }),
    )
  }
  return total satisfies ClaimPassReport
})

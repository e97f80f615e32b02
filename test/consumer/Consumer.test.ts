import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Result } from "effect"
import { Consumer } from "../../src/consumer/Consumer.ts"
import { GAP_SCRIPT_SHA } from "../../src/consumer/gapScript.ts"
import { RedisClient } from "../../src/redis/RedisClient.ts"
import { entryFields, validPayload } from "../support/entries.ts"
import { ownRedis } from "../support/ownRedis.ts"

/* Its own Redis: these tests flush its script cache. */
const own = ownRedis({ appendOnly: false })

let streams = 0
const withConsumer = <A, E>(use: (consumer: Consumer["Service"], stream: string) => Effect.Effect<A, E>) => {
  const stream = `consumer-test-${streams++}`
  const layer = Consumer.layer({ stream, group: "g", consumer: "c1", dlqStream: `${stream}:dlq` }).pipe(
    Layer.provide(RedisClient.layer(Redacted.make(own.server.url), "test")),
  )
  return Effect.gen(function* () {
    const consumer = yield* Consumer
    yield* consumer.ensureGroup("0")
    return yield* use(consumer, stream)
  }).pipe(Effect.provide(layer))
}

const add = (stream: string, n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < n; i++) await own.client.xadd(stream, "*", ...entryFields(validPayload("d1", 1000 + i)))
  })

describe("Consumer.readNew", () => {
  it.live("after Redis lost its scripts (NOSCRIPT): keeps the read's entries and loads the cursor check again", () =>
    withConsumer((consumer, stream) =>
      Effect.gen(function* () {
        yield* add(stream, 2)
        yield* Effect.promise(() => own.client.script("FLUSH"))
        const first = yield* consumer.readNew(10, 100)
        expect(first.entries.entries().map((e) => e.fields?.[0])).toEqual(["payload", "payload"])
        expect(first.lost).toBeUndefined()
        expect(yield* Effect.promise(() => own.client.script("EXISTS", GAP_SCRIPT_SHA))).toEqual([1])
      }),
    ),
  )

  it.live("acknowledges the ids it is given before reading, in the same round trip", () =>
    withConsumer((consumer, stream) =>
      Effect.gen(function* () {
        yield* add(stream, 3)
        const first = yield* consumer.readNew(2, 100)
        expect(first.acked).toBeUndefined()
        const ids = first.entries.ids
        yield* add(stream, 1)
        const second = yield* consumer.readNew(10, 100, ids)
        expect(second.acked).toEqual(Result.succeed(2))
        expect(second.entries).toHaveLength(2)
        // Only the second read's entries are still pending.
        const pending = (yield* Effect.promise(() => own.client.xpending(stream, "g", "-", "+", 10))) as Array<
          [string, ...Array<unknown>]
        >
        expect(pending.map(([id]) => id)).toEqual(second.entries.ids)
        // Acknowledged already: a repeat counts none.
        expect((yield* consumer.readNew(10, 100, ids)).acked).toEqual(Result.succeed(0))
      }),
    ),
  )

  it.live("a failed acknowledgement ahead of the read is reported beside the entries read, not instead of them", () =>
    withConsumer((consumer, stream) =>
      Effect.gen(function* () {
        yield* add(stream, 2)
        const read = yield* consumer.readNew(10, 100, ["not-a-stream-id"])
        expect(read.entries).toHaveLength(2)
        const acked = read.acked
        if (acked === undefined || Result.isSuccess(acked)) throw new Error(`expected a failed XACK, got ${acked}`)
        expect(acked.failure._tag).toBe("RedisError")
        expect(acked.failure.message).toMatch(/XACK/)
      }),
    ),
  )

  it.live(
    "with the group gone, a read carrying acknowledgements fails as GroupMissing (for the caller's recovery)",
    () =>
      withConsumer((consumer, stream) =>
        Effect.gen(function* () {
          yield* add(stream, 2)
          const ids = (yield* consumer.readNew(10, 100)).entries.ids
          yield* Effect.promise(() => own.client.xgroup("DESTROY", stream, "g"))
          const failed = yield* Effect.flip(consumer.readNew(10, 100, ids))
          expect(failed._tag).toBe("GroupMissing")
          expect(failed.message).toMatch(/NOGROUP/)
        }),
      ),
  )

  it.live("reports entries trimmed before the group read them, once, and reads on after them", () =>
    withConsumer((consumer, stream) =>
      Effect.gen(function* () {
        yield* add(stream, 1)
        expect((yield* consumer.readNew(10, 100)).entries).toHaveLength(1)
        yield* add(stream, 3)
        yield* Effect.promise(() => own.client.xtrim(stream, "MAXLEN", 1))
        const afterTrim = yield* consumer.readNew(10, 100)
        expect(afterTrim.lost?.lostEntries).toBe(2)
        expect(afterTrim.entries).toHaveLength(1)
        const next = yield* consumer.readNew(10, 100)
        expect(next.lost).toBeUndefined()
        expect(next.entries).toHaveLength(0)
      }),
    ),
  )
})

describe("Consumer.entries", () => {
  it.live("reads back the entries still in the stream, by id, and leaves out deleted ones", () =>
    withConsumer((consumer, stream) =>
      Effect.gen(function* () {
        yield* add(stream, 3)
        const read = yield* consumer.readNew(10, 100)
        const [first, second, third] = read.entries.ids
        yield* Effect.promise(() => own.client.xdel(stream, second as string))
        const found = yield* consumer.entries([first as string, second as string, third as string, "1-1"])
        expect([...found.keys()]).toEqual([first, third])
        expect(found.get(first as string)?.fields).toEqual(read.entries.entry(0).fields)
        expect((yield* consumer.entries([])).size).toBe(0)
      }),
    ),
  )
})

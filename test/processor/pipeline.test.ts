import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import type { Redis } from "ioredis"
import { inject } from "vitest"
import type { Position } from "../../src/domain/Position.ts"
import { Checkpoints } from "../../src/processor/Checkpoints.ts"
import { StateLoadError, StateLoader } from "../../src/state/StateStore.ts"
import { PermanentWriteError, TransientWriteError } from "../../src/writer/WriteError.ts"
import { emptyReport, Writer, writtenReport } from "../../src/writer/Writer.ts"
import { entryFields, validPayload } from "../support/entries.ts"
import { eventually, pendingCount, processorWith, redisFor, testSettings } from "../support/processor.ts"

/** A Writer whose behaviour the test controls, recording every batch it was given. */
const controllableWriter = () => {
  const calls: Array<ReadonlyArray<Position>> = []
  const written: Array<Position> = []
  const control: {
    failing: boolean
    reject: Set<string>
    /** Runs before each write reports. */
    beforeReport: ((positions: ReadonlyArray<Position>) => Promise<void>) | undefined
  } = {
    failing: false,
    reject: new Set<string>(),
    beforeReport: undefined,
  }
  const layer = Writer.layerTest((positions) =>
    Effect.promise(() => control.beforeReport?.(positions) ?? Promise.resolve()).pipe(
      Effect.andThen(() => {
        calls.push(positions)
        if (control.failing) return Effect.fail(new TransientWriteError({ reason: "connection terminated (test)" }))
        const report = emptyReport()
        for (const p of positions) {
          if (control.reject.has(p.deviceId)) {
            report.failed.push({
              position: p,
              error: new PermanentWriteError({ reason: "22003 out of range (test)", sqlState: "22003" }),
            })
          } else {
            report.written.push(p.streamId)
            report.inserted++
            written.push(p)
          }
        }
        return Effect.succeed(report)
      }),
    ),
  )
  return { calls, written, control, layer }
}

/** Waits until nothing is pending and the DLQ holds `count` entries; answers them as field records. */
const awaitDeadLetters = async (redis: Redis, stream: string, count: number) => {
  await eventually(
    async () => (await pendingCount(redis, stream, "processor")) === 0 && (await redis.xlen(`${stream}:dlq`)) === count,
    `${count} dead letter(s), pending 0`,
  )
  const entries = (await redis.call("XRANGE", `${stream}:dlq`, "-", "+")) as Array<[string, Array<string>]>
  return entries.map(([, fields]) => {
    const record: Record<string, string> = {}
    for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string
    return record
  })
}

const overridesFor = (writer: Layer.Layer<Writer>) => ({
  writer,
  stateLoader: StateLoader.layerNone,
  checkpoints: Checkpoints.layerMemory,
})

describe("processor pipeline against real Redis, with a Writer that fails on demand", () => {
  it.live("acknowledges nothing while the write fails; acknowledges everything once it succeeds", () =>
    Effect.gen(function* () {
      const settings = testSettings()
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      const writer = controllableWriter()
      writer.control.failing = true
      // All ten are in the stream before the processor starts, so they arrive as one batch.
      yield* Effect.promise(async () => {
        const pipeline = redis.pipeline()
        for (let i = 0; i < 10; i++) pipeline.call("XADD", stream, "*", ...entryFields(validPayload(`d${i}`, 1000 + i)))
        await pipeline.exec()
      })
      const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer.layer)))
      yield* Effect.promise(async () => {
        // The failing batch is retried in place: several attempts, and every entry still pending.
        await eventually(async () => writer.calls.length >= 3, "three write attempts")
        expect(await pendingCount(redis, stream, "processor")).toBe(10)
        expect(writer.written).toEqual([])
        writer.control.failing = false
        await eventually(async () => (await pendingCount(redis, stream, "processor")) === 0, "pending 0")
      }).pipe(
        // A failed expectation must not leave the in-flight batch retrying forever under the
        // test's interruption (batches are uninterruptible by design).
        Effect.ensuring(
          Effect.sync(() => {
            writer.control.failing = false
          }),
        ),
      )
      expect(writer.written.map((p) => p.deviceId).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `d${i}`).sort())
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  it.live(
    "a failing device-state load is retried in place before the write: nothing written or acknowledged until it succeeds",
    () =>
      Effect.gen(function* () {
        const settings = testSettings()
        const { stream } = settings.stream.redis
        const redis = redisFor(settings)
        const writer = controllableWriter()
        const loader = { failing: true, attempts: 0 }
        const failingLoader = Layer.succeed(
          StateLoader,
          StateLoader.of({
            load: () =>
              Effect.suspend(() => {
                loader.attempts++
                return loader.failing
                  ? Effect.fail(new StateLoadError({ reason: "connection terminated (test)" }))
                  : Effect.succeed(new Map())
              }),
          }),
        )
        yield* Effect.promise(async () => {
          const pipeline = redis.pipeline()
          for (let i = 0; i < 5; i++)
            pipeline.call("XADD", stream, "*", ...entryFields(validPayload(`cold${i}`, 1000 + i)))
          await pipeline.exec()
        })
        const run = yield* Effect.forkChild(
          processorWith(settings, { ...overridesFor(writer.layer), stateLoader: failingLoader }),
        )
        yield* Effect.promise(async () => {
          await eventually(async () => loader.attempts >= 3, "three state-load attempts")
          expect(writer.calls).toEqual([])
          expect(await pendingCount(redis, stream, "processor")).toBe(5)
          loader.failing = false
          await eventually(async () => (await pendingCount(redis, stream, "processor")) === 0, "pending 0")
        }).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              loader.failing = false
            }),
          ),
        )
        expect(writer.written.map((p) => p.deviceId).sort()).toEqual(["cold0", "cold1", "cold2", "cold3", "cold4"])
        yield* Fiber.interrupt(run)
        redis.disconnect()
      }),
  )

  it.live("keeps a slow batch's entries claimed: a peer finds nothing idle past the threshold", () =>
    Effect.gen(function* () {
      // Heartbeat every threshold/3 = 1 s; the check comes 4 s into the write, so only a 2 s stall
      // of the machine could make it fail, while without the heartbeat the entries would be ~4 s idle.
      // The processor's own claim pass stays out of the way (it would re-claim its idle entries itself).
      const settings = testSettings({ CLAIM_THRESHOLD_MS: "3000", CLAIM_INTERVAL_MS: "60000" })
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      const release = yield* Deferred.make<void>()
      let started = 0
      const writer = Writer.layerTest((positions) =>
        Effect.sync(() => {
          started = Date.now()
        }).pipe(Effect.andThen(Deferred.await(release)), Effect.as(writtenReport(positions))),
      )
      yield* Effect.promise(async () => {
        for (let i = 0; i < 3; i++) await redis.call("XADD", stream, "*", ...entryFields(validPayload(`slow${i}`, i)))
      })
      const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer)))
      const peerClaimed = yield* Effect.promise(async () => {
        await eventually(async () => started > 0, "the write started")
        await new Promise((r) => setTimeout(r, 4000 - (Date.now() - started)))
        const reply = (await redis.call("XAUTOCLAIM", stream, "processor", "peer", 3000, "0", "JUSTID")) as [
          string,
          Array<string>,
        ]
        return reply[1]
      })
      expect(peerClaimed).toEqual([])
      yield* Deferred.succeed(release, undefined)
      yield* Effect.promise(() =>
        eventually(async () => (await pendingCount(redis, stream, "processor")) === 0, "pending 0"),
      )
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  it.live("without a backlog, entries that arrive during a commit are read as one batch after it", () =>
    Effect.gen(function* () {
      const settings = testSettings({ WRITE_CONCURRENCY: "2" })
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      const release = yield* Deferred.make<void>()
      const calls: Array<ReadonlyArray<string>> = []
      const writer = Writer.layerTest((positions) =>
        Effect.suspend(() => {
          calls.push(positions.map((p) => p.deviceId))
          return calls.length === 1 ? Deferred.await(release) : Effect.void
        }).pipe(Effect.as(writtenReport(positions))),
      )
      const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer)))
      yield* Effect.promise(async () => {
        await redis.call("XADD", stream, "*", ...entryFields(validPayload("first", 1)))
        await eventually(async () => calls.length === 1, "the first batch is being written")
        for (let i = 0; i < 3; i++) await redis.call("XADD", stream, "*", ...entryFields(validPayload(`later${i}`, i)))
        // A second writer is free, but nothing is read while a batch is uncommitted and the last
        // read was not full. (Were it read, it would be written within milliseconds.)
        await new Promise((r) => setTimeout(r, 300))
      })
      expect(calls.length).toBe(1)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.promise(() =>
        eventually(
          async () => (await pendingCount(redis, stream, "processor")) === 0 && calls.length >= 2,
          "all written",
        ),
      )
      expect(calls[1]?.slice().sort()).toEqual(["later0", "later1", "later2"])
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  it.live(
    "stopped while a batch is written without a backlog: the batch is written and acknowledged before it stops",
    () =>
      Effect.gen(function* () {
        const settings = testSettings()
        const { stream } = settings.stream.redis
        const redis = redisFor(settings)
        const release = yield* Deferred.make<void>()
        const written: Array<string> = []
        const writer = Writer.layerTest((positions) =>
          Deferred.await(release).pipe(
            Effect.andThen(
              Effect.sync(() => {
                for (const p of positions) written.push(p.deviceId)
                return writtenReport(positions)
              }),
            ),
          ),
        )
        const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer)))
        yield* Effect.promise(async () => {
          await redis.call("XADD", stream, "*", ...entryFields(validPayload("last", 1)))
          await eventually(async () => (await pendingCount(redis, stream, "processor")) === 1, "the entry read")
        })
        // Without a backlog the batch's acknowledgement would go with the next read; there is none:
        // the reader is interrupted while the batch is still being written.
        const stopping = yield* Effect.forkChild(Fiber.interrupt(run))
        yield* Effect.yieldNow
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(stopping)
        expect(written).toEqual(["last"])
        expect(yield* Effect.promise(() => pendingCount(redis, stream, "processor"))).toBe(0)
        redis.disconnect()
      }),
  )

  it.live(
    "the group destroyed while a written batch's acknowledgement waits for the next read: recovered, every entry acknowledged",
    () =>
      Effect.gen(function* () {
        const settings = testSettings()
        const { stream } = settings.stream.redis
        const redis = redisFor(settings)
        const written: Array<string> = []
        let destroyed = false
        const writer = Writer.layerTest((positions) =>
          Effect.promise(async () => {
            for (const p of positions) written.push(p.deviceId)
            // Without a backlog this batch's XACK goes with the next read, which meets NOGROUP.
            if (!destroyed) {
              destroyed = true
              await redis.call("XGROUP", "DESTROY", stream, "processor")
            }
            return writtenReport(positions)
          }),
        )
        const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer)))
        yield* Effect.promise(async () => {
          await eventually(async () => (await redis.exists(stream)) === 1 && written.length === 0, "the processor up")
          await redis.call("XADD", stream, "*", ...entryFields(validPayload("only", 1)))
          // The group is recreated (no checkpoint in memory yet: from the start of the stream), the
          // entry read again and written again (a duplicate in PostgreSQL), then acknowledged.
          await eventually(
            async () => destroyed && written.length >= 2 && (await pendingCount(redis, stream, "processor")) === 0,
            "recovered and acknowledged",
          )
        })
        expect(new Set(written)).toEqual(new Set(["only"]))
        yield* Fiber.interrupt(run)
        redis.disconnect()
      }),
  )

  it.live(
    "an XACK that fails ahead of the next read (ACL denies it) is retried on its own until Redis takes it; nothing is written twice",
    () =>
      Effect.gen(function* () {
        const user = `no-xack-${process.pid}-${Date.now().toString(36)}`
        const admin = redisFor(testSettings())
        yield* Effect.promise(() => admin.call("ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all", "-xack"))
        const url = new URL(inject("redisUrl"))
        url.username = user
        url.password = "secret"
        const settings = testSettings({ REDIS_URL: url.toString() })
        const { stream } = settings.stream.redis
        const written: Array<string> = []
        const writer = Writer.layerTest((positions) =>
          Effect.sync(() => {
            for (const p of positions) written.push(p.deviceId)
            return writtenReport(positions)
          }),
        )
        const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer)))
        yield* Effect.promise(async () => {
          await admin.call("XADD", stream, "*", ...entryFields(validPayload("first", 1)))
          // Its XACK goes ahead of the next read and is denied (NOPERM): the read itself succeeds.
          await eventually(async () => {
            const log = JSON.stringify(await admin.call("ACL", "LOG"))
            return log.includes(user) && log.toLowerCase().includes("xack")
          }, "the XACK denied")
          // Retried on its own, in place, until Redis takes it: the entry stays pending meanwhile.
          expect(await pendingCount(admin, stream, "processor")).toBe(1)
          await admin.call("ACL", "SETUSER", user, "+xack")
          await eventually(
            async () => (await pendingCount(admin, stream, "processor")) === 0,
            "acknowledged once allowed",
          )
          // And reading goes on.
          await admin.call("XADD", stream, "*", ...entryFields(validPayload("second", 2)))
          await eventually(
            async () => written.includes("second") && (await pendingCount(admin, stream, "processor")) === 0,
            "the next entry written and acknowledged",
          )
        }).pipe(Effect.ensuring(Effect.promise(() => admin.call("ACL", "SETUSER", user, "+xack"))))
        expect(written).toEqual(["first", "second"])
        yield* Fiber.interrupt(run)
        yield* Effect.promise(() => admin.call("ACL", "DELUSER", user))
        admin.disconnect()
      }),
  )

  it.live(
    "a rejected record whose entry was deleted meanwhile is dead-lettered with the position it was decoded to",
    () =>
      Effect.gen(function* () {
        const settings = testSettings({ MAX_DELIVERIES: "3" })
        const { stream } = settings.stream.redis
        const redis = redisFor(settings)
        const writer = controllableWriter()
        writer.control.reject.add("gone-row")
        writer.control.beforeReport = async (positions) => {
          for (const p of positions) if (p.deviceId === "gone-row") await redis.xdel(stream, p.streamId)
        }
        const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer.layer)))
        const dlq = yield* Effect.promise(async () => {
          const goneId = await redis.call("XADD", stream, "*", ...entryFields(validPayload("gone-row", 7)))
          await redis.call("XADD", stream, "*", ...entryFields(validPayload("good", 8)))
          return { letters: await awaitDeadLetters(redis, stream, 1), goneId }
        })
        const record = dlq.letters[0] ?? {}
        expect(record.dlq_original_id).toBe(String(dlq.goneId))
        expect(record.dlq_error_tag).toBe("PermanentWriteError")
        expect(record.payload).toBeUndefined()
        const decoded = JSON.parse(record.decoded_position ?? "null") as { deviceId: string; tsMs: number }
        expect([decoded.deviceId, decoded.tsMs]).toEqual(["gone-row", 7])
        expect(writer.written.map((p) => p.deviceId)).toEqual(["good"])
        yield* Fiber.interrupt(run)
        redis.disconnect()
      }),
  )

  it.live("dead-letters rejected records and undecodable entries with their reason; acks the rest", () =>
    Effect.gen(function* () {
      const settings = testSettings({ MAX_DELIVERIES: "3" })
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      const writer = controllableWriter()
      writer.control.reject.add("bad-row")
      const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer.layer)))
      const dlq = yield* Effect.promise(async () => {
        await redis.call("XADD", stream, "*", ...entryFields(validPayload("good", 1)))
        const badRowId = await redis.call("XADD", stream, "*", ...entryFields(validPayload("bad-row", 2)))
        const badJsonId = await redis.call("XADD", stream, "*", "payload", "{oops", "source", "test")
        await redis.call("XADD", stream, "*", ...entryFields(validPayload("good", 3)))
        return { letters: await awaitDeadLetters(redis, stream, 2), badRowId, badJsonId }
      })
      const byOriginal = new Map(dlq.letters.map((record) => [record.dlq_original_id, record]))
      const badRow = byOriginal.get(String(dlq.badRowId))
      expect(badRow?.dlq_error_tag).toBe("PermanentWriteError")
      expect(badRow?.dlq_error_message).toContain("22003")
      expect(badRow?.payload).toBe(JSON.stringify(validPayload("bad-row", 2)))
      expect(badRow?.source).toBe("test")
      expect(badRow?.dlq_consumer).toBe("c1")
      const badJson = byOriginal.get(String(dlq.badJsonId))
      expect(badJson?.dlq_error_tag).toBe("CodecError")
      expect(badJson?.payload).toBe("{oops")
      expect(writer.written.map((p) => p.tsMs).sort()).toEqual([1, 3])
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  it.live("re-reads its own pending entries first after a restart, then new ones", () =>
    Effect.gen(function* () {
      const settings = testSettings()
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      // A previous life of consumer c1 read five entries and died before acknowledging them.
      yield* Effect.promise(async () => {
        await redis.call("XGROUP", "CREATE", stream, "processor", "0", "MKSTREAM")
        for (let i = 0; i < 5; i++) await redis.call("XADD", stream, "*", ...entryFields(validPayload("old", i)))
        await redis.call("XREADGROUP", "GROUP", "processor", "c1", "COUNT", 5, "STREAMS", stream, ">")
        for (let i = 0; i < 5; i++) await redis.call("XADD", stream, "*", ...entryFields(validPayload("new", i)))
      })
      const writer = controllableWriter()
      const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer.layer)))
      yield* Effect.promise(() =>
        eventually(
          async () => (await pendingCount(redis, stream, "processor")) === 0 && writer.written.length === 10,
          "all ten written",
        ),
      )
      expect(writer.calls[0]?.map((p) => p.deviceId)).toEqual(["old", "old", "old", "old", "old"])
      expect(
        writer.calls
          .flat()
          .map((p) => p.deviceId)
          .slice(5),
      ).toEqual(["new", "new", "new", "new", "new"])
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  it.live("dead-letters an entry delivered more than MAX_DELIVERIES times without success", () =>
    Effect.gen(function* () {
      const settings = testSettings({ MAX_DELIVERIES: "2", CLAIM_THRESHOLD_MS: "100" })
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      // Three consumers died holding the same entry in turn: it has been delivered three times.
      const id = yield* Effect.promise(async () => {
        await redis.call("XGROUP", "CREATE", stream, "processor", "0", "MKSTREAM")
        const entryId = String(await redis.call("XADD", stream, "*", ...entryFields(validPayload("crashy", 1))))
        await redis.call("XREADGROUP", "GROUP", "processor", "dead-1", "COUNT", 1, "STREAMS", stream, ">")
        await redis.call("XCLAIM", stream, "processor", "dead-2", 0, entryId)
        await redis.call("XCLAIM", stream, "processor", "dead-3", 0, entryId)
        return entryId
      })
      const writer = controllableWriter()
      const run = yield* Effect.forkChild(processorWith(settings, overridesFor(writer.layer)))
      const dlq = yield* Effect.promise(async () => {
        await eventually(async () => (await redis.xlen(`${stream}:dlq`)) === 1, "one dead letter")
        return (await redis.call("XRANGE", `${stream}:dlq`, "-", "+")) as Array<[string, Array<string>]>
      })
      const fields = dlq[0]?.[1] ?? []
      expect(fields[fields.indexOf("dlq_original_id") + 1]).toBe(id)
      expect(fields[fields.indexOf("dlq_error_tag") + 1]).toBe("MaxDeliveriesExceeded")
      expect(writer.written).toEqual([])
      expect(yield* Effect.promise(() => pendingCount(redis, stream, "processor"))).toBe(0)
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )
})

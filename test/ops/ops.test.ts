import * as NodeServices from "@effect/platform-node/NodeServices"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Console, Effect, Exit, Layer, Redacted } from "effect"
import { Command } from "effect/cli"
import { claimCommand, dlqCommand, lagCommand, opsCommands, rehydrateCommand } from "../../src/cli/ops.ts"
import { Ops } from "../../src/ops/Ops.ts"
import { envFor, examplePayload, freshStreams, rawRedis, redisUrl, seedDlq } from "./support.ts"

/**
 * The DLQ operations against a real Redis: entries are dead-lettered by the processor's own
 * Consumer.deadLetter, so the DLQ format under test is the one production writes.
 */

const redis = rawRedis()
afterAll(async () => {
  await redis.quit()
})

const opsLayer = (streams: ReturnType<typeof freshStreams>) =>
  Ops.layerConnect({ redisUrl: Redacted.make(redisUrl()), ...streams })

const fieldsOf = (n: number) => [
  "payload",
  examplePayload(`35209308123456${n % 10}`, 1_700_000_000_000 + n),
  "received_at",
  String(1_700_000_000_500 + n),
  "source",
  "test",
]

/** Runs CLI arguments through the commands with env config; returns stdout lines and the exit. */
const runCli = async (streams: ReturnType<typeof freshStreams>, args: ReadonlyArray<string>) => {
  const out: Array<string> = []
  const capture: Console.Console = {
    ...globalThis.console,
    log: (...xs: ReadonlyArray<unknown>) => out.push(xs.join(" ")),
  }
  const root = Command.make("telemetry").pipe(Command.withSubcommands([...opsCommands]))
  const exit = await Effect.runPromiseExit(
    Command.runWith(root, { version: "test" })(args).pipe(
      Effect.provideService(Console.Console, capture),
      Effect.provide(Layer.mergeAll(NodeServices.layer, envFor(streams))),
    ),
  )
  return { out: out.join("\n"), exit }
}

describe("DLQ operations", () => {
  it.live("lists a page at a time, newest or oldest first, with the original fields apart", () => {
    const streams = freshStreams("list")
    return Effect.gen(function* () {
      const originals = yield* seedDlq(streams, [0, 1, 2, 3, 4].map(fieldsOf))
      const ops = yield* Ops

      const first = yield* ops.dlqList({ order: "newest", count: 2 })
      expect(first.entries.map((e) => e.originalId)).toEqual([originals[4], originals[3]])
      expect(first.nextCursor).toBe(first.entries[1]?.id)
      const second = yield* ops.dlqList({ order: "newest", count: 2, cursor: first.nextCursor ?? "" })
      expect(second.entries.map((e) => e.originalId)).toEqual([originals[2], originals[1]])
      const third = yield* ops.dlqList({ order: "newest", count: 2, cursor: second.nextCursor ?? "" })
      expect(third.entries.map((e) => e.originalId)).toEqual([originals[0]])
      expect(third.nextCursor).toBeNull()

      const oldest = yield* ops.dlqList({ order: "oldest", count: 10 })
      expect(oldest.entries.map((e) => e.originalId)).toEqual(originals)
      const entry = oldest.entries[0]
      expect(entry).toMatchObject({
        errorTag: "CodecError",
        errorMessage: `bad entry ${originals[0]}`,
        deliveries: 1,
        consumer: "c1",
        stream: streams.stream,
        fields: { payload: fieldsOf(0)[1], received_at: fieldsOf(0)[3], source: "test" },
      })
      expect(Date.parse(entry?.failedAt ?? "")).toBeGreaterThan(0)

      const bad = yield* Effect.flip(ops.dlqList({ order: "oldest", count: 10, cursor: "x; FLUSHALL" }))
      expect(bad._tag).toBe("OpsInputError")
    }).pipe(Effect.provide(opsLayer(streams)))
  })

  it.live("replay puts every entry back on the main stream with its original fields and empties the DLQ", () => {
    const streams = freshStreams("replay")
    return Effect.gen(function* () {
      const originals = yield* seedDlq(streams, [0, 1, 2].map(fieldsOf))
      const before = yield* Effect.promise(() => redis.xlen(streams.stream))
      const ops = yield* Ops
      const report = yield* ops.dlqReplay({})
      expect(report).toMatchObject({ replayed: 3, skipped: 0 })
      expect(report.details.map((d) => d.originalId)).toEqual(originals)

      expect(yield* Effect.promise(() => redis.xlen(streams.dlqStream))).toBe(0)
      const replayed = yield* Effect.promise(() => redis.xrange(streams.stream, "-", "+"))
      expect(replayed.length).toBe(before + 3)
      const tail = replayed.slice(-3)
      // Byte-for-byte the fields the gateway wrote, in order, with nothing of the DLQ's added.
      expect(tail.map(([, fields]) => fields)).toEqual([0, 1, 2].map(fieldsOf))
      expect(tail.map(([id]) => id)).toEqual(report.details.map((d) => d.newId))
    }).pipe(Effect.provide(opsLayer(streams)))
  })

  it.live("replays one entry by id, or only entries of one error tag, and reports an unknown id", () => {
    const streams = freshStreams("replay-one")
    return Effect.gen(function* () {
      yield* seedDlq(streams, [fieldsOf(0), fieldsOf(1)], "CodecError")
      yield* seedDlq(streams, [fieldsOf(2)], "WriteRejected")
      const ops = yield* Ops
      const all = yield* ops.dlqList({ order: "oldest", count: 10 })
      const target = all.entries[1]
      if (target === undefined) throw new Error("seeded entries missing")

      const one = yield* ops.dlqReplay({ id: target.id })
      expect(one).toMatchObject({ replayed: 1, details: [{ dlqId: target.id }] })
      const left = yield* ops.dlqList({ order: "oldest", count: 10 })
      expect(left.entries.map((e) => e.id)).toEqual([all.entries[0]?.id, all.entries[2]?.id])

      const tagged = yield* ops.dlqReplay({ errorTag: "WriteRejected" })
      expect(tagged.replayed).toBe(1)
      const rest = yield* ops.dlqList({ order: "oldest", count: 10 })
      expect(rest.entries.map((e) => e.errorTag)).toEqual(["CodecError"])

      const missing = yield* Effect.flip(ops.dlqReplay({ id: "1-1" }))
      expect(missing._tag).toBe("DlqEntryNotFound")
      const limited = yield* ops.dlqReplay({ limit: 1 })
      expect(limited.replayed).toBe(1)
      expect(yield* Effect.promise(() => redis.xlen(streams.dlqStream))).toBe(0)
    }).pipe(Effect.provide(opsLayer(streams)))
  })

  it.live("purge refuses without confirmation and deletes with it", () => {
    const streams = freshStreams("purge")
    return Effect.gen(function* () {
      yield* seedDlq(streams, [0, 1, 2].map(fieldsOf))
      const ops = yield* Ops
      const refused = yield* Effect.flip(ops.dlqPurge({ kind: "all" }, false))
      expect(refused._tag).toBe("ConfirmationRequired")
      expect(refused.message).toContain("3 entries")
      expect(yield* Effect.promise(() => redis.xlen(streams.dlqStream))).toBe(3)

      const first = (yield* ops.dlqList({ order: "oldest", count: 1 })).entries[0]
      expect((yield* ops.dlqPurge({ kind: "id", id: first?.id ?? "" }, true)).removed).toBe(1)
      expect((yield* ops.dlqPurge({ kind: "olderThan", ms: 3_600_000 }, true)).removed).toBe(0)
      expect((yield* ops.dlqPurge({ kind: "all" }, true)).removed).toBe(2)
      expect(yield* Effect.promise(() => redis.exists(streams.dlqStream))).toBe(0)
    }).pipe(Effect.provide(opsLayer(streams)))
  })

  it.live("reports lag, pending per consumer and the DLQ length", () => {
    const streams = freshStreams("lag")
    return Effect.gen(function* () {
      const ops = yield* Ops
      const empty = yield* ops.lag
      expect(empty).toMatchObject({ groupExists: false, streamLength: 0, dlqLength: 0, consumers: [] })

      yield* seedDlq(streams, [fieldsOf(0)])
      yield* Effect.promise(() => redis.xadd(streams.stream, "*", ...fieldsOf(1)))
      yield* Effect.promise(() => redis.xadd(streams.stream, "*", ...fieldsOf(2)))
      const report = yield* ops.lag
      // The dead-lettered entry stays in the stream (acknowledged): 1 + 2 new, 2 of them undelivered.
      expect(report).toMatchObject({ groupExists: true, streamLength: 3, dlqLength: 1, lag: 2, pending: 0 })
      expect(report.consumers.map((c) => c.name)).toEqual(["c1"])
    }).pipe(Effect.provide(opsLayer(streams)))
  })
})

describe("trim", () => {
  it.live("removes only fully processed entries, atomically below the group's frontier", () => {
    const streams = freshStreams("trim")
    return Effect.gen(function* () {
      const ops = yield* Ops
      const missing = yield* Effect.flip(ops.trimProcessed({ keepMs: 0 }, true))
      expect(missing.message).toContain("does not exist")

      yield* Effect.promise(() => redis.xgroup("CREATE", streams.stream, streams.group, "$", "MKSTREAM"))
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++)
        ids.push((yield* Effect.promise(() => redis.xadd(streams.stream, "*", ...fieldsOf(i)))) ?? "")
      yield* Effect.promise(() =>
        redis.xreadgroup("GROUP", streams.group, "c1", "COUNT", 3, "STREAMS", streams.stream, ">"),
      )
      yield* Effect.promise(() => redis.xack(streams.stream, streams.group, ids[0] ?? "", ids[1] ?? ""))

      const refused = yield* Effect.flip(ops.trimProcessed({ keepMs: 0 }, false))
      expect(refused._tag).toBe("ConfirmationRequired")
      expect(yield* Effect.promise(() => redis.xlen(streams.stream))).toBe(5)

      // Entry 3 is pending, 4 and 5 undelivered: only 1 and 2 go.
      expect(yield* ops.trimProcessed({ keepMs: 0 }, true)).toEqual({
        stream: streams.stream,
        removed: 2,
        keptFrom: ids[2],
      })
      const left = yield* Effect.promise(() => redis.xrange(streams.stream, "-", "+"))
      expect(left.map(([id]) => id)).toEqual(ids.slice(2))

      yield* Effect.promise(() => redis.xack(streams.stream, streams.group, ids[2] ?? ""))
      yield* Effect.promise(() =>
        redis.xreadgroup("GROUP", streams.group, "c1", "COUNT", 1, "STREAMS", streams.stream, ">"),
      )
      yield* Effect.promise(() => redis.xack(streams.stream, streams.group, ids[3] ?? ""))
      // Nothing pending: everything up to the last delivered entry (4) is done; 5 is undelivered.
      expect((yield* ops.trimProcessed({ keepMs: 0 }, true)).removed).toBe(1)
      const kept = yield* Effect.promise(() => redis.xrange(streams.stream, "-", "+"))
      expect(kept.map(([id]) => id)).toEqual([ids[3], ids[4]])

      // A replay buffer keeps recent processed entries: entry 4 (done) stays while it is young.
      yield* Effect.promise(() =>
        redis.xreadgroup("GROUP", streams.group, "c1", "COUNT", 1, "STREAMS", streams.stream, ">"),
      )
      yield* Effect.promise(() => redis.xack(streams.stream, streams.group, ids[4] ?? ""))
      expect((yield* ops.trimProcessed({ keepMs: 3_600_000 }, true)).removed).toBe(0)
      expect((yield* ops.trimProcessed({ keepMs: 0 }, true)).removed).toBe(1)
    }).pipe(Effect.provide(opsLayer(streams)))
  })
})

describe("operations CLI", () => {
  it("has --help on every command", async () => {
    const streams = freshStreams("help")
    for (const path of [
      ["lag"],
      ["dlq"],
      ["dlq", "list"],
      ["dlq", "replay"],
      ["dlq", "purge"],
      ["claim"],
      ["rehydrate"],
    ]) {
      const { out, exit } = await runCli(streams, [...path, "--help"])
      expect(Exit.isSuccess(exit), path.join(" ")).toBe(true)
      expect(out, path.join(" ")).toMatch(/USAGE/i)
    }
    expect([lagCommand.name, dlqCommand.name, claimCommand.name, rehydrateCommand.name]).toEqual([
      "lag",
      "dlq",
      "claim",
      "rehydrate",
    ])
  })

  it("dlq purge refuses without --yes, deletes with it", async () => {
    const streams = freshStreams("cli-purge")
    await Effect.runPromise(seedDlq(streams, [fieldsOf(0), fieldsOf(1)]))

    const refused = await runCli(streams, ["dlq", "purge", "--all"])
    expect(Exit.isFailure(refused.exit)).toBe(true)
    expect(String(refused.exit)).toContain("ConfirmationRequired")
    expect(await redis.xlen(streams.dlqStream)).toBe(2)

    const trim = await runCli(streams, ["trim"])
    expect(String(trim.exit)).toContain("ConfirmationRequired")

    const noTarget = await runCli(streams, ["dlq", "purge", "--yes"])
    expect(Exit.isFailure(noTarget.exit)).toBe(true)
    expect(await redis.xlen(streams.dlqStream)).toBe(2)

    const done = await runCli(streams, ["dlq", "purge", "--all", "--yes", "--json"])
    expect(Exit.isSuccess(done.exit)).toBe(true)
    expect(JSON.parse(done.out)).toEqual({ dlqStream: streams.dlqStream, removed: 2 })
    expect(await redis.xlen(streams.dlqStream)).toBe(0)
  })

  it("dlq list, dlq replay and lag print tables by default and JSON with --json", async () => {
    const streams = freshStreams("cli-tables")
    const originals = await Effect.runPromise(seedDlq(streams, [fieldsOf(0), fieldsOf(1)]))

    const table = await runCli(streams, ["dlq", "list"])
    expect(Exit.isSuccess(table.exit)).toBe(true)
    expect(table.out).toMatch(/^DLQ ID\s+ORIGINAL ID\s+FAILED AT\s+DELIVERIES\s+DEVICE\s+ERROR$/m)
    expect(table.out).toContain(originals[0])
    expect(table.out).toContain("352093081234560")

    const listed = await runCli(streams, ["dlq", "list", "--json", "--order", "oldest", "--count", "1"])
    const page = JSON.parse(listed.out)
    expect(page.entries.map((e: { originalId: string }) => e.originalId)).toEqual([originals[0]])
    expect(page.nextCursor).toBe(page.entries[0].id)

    const replay = await runCli(streams, ["dlq", "replay"])
    expect(Exit.isSuccess(replay.exit)).toBe(true)
    expect(replay.out).toContain("replayed 2 entries")
    expect(await redis.xlen(streams.dlqStream)).toBe(0)

    const lag = await runCli(streams, ["lag"])
    expect(Exit.isSuccess(lag.exit)).toBe(true)
    expect(lag.out).toMatch(/^CONSUMER\s+PENDING\s+IDLE$/m)
    const lagJson = JSON.parse((await runCli(streams, ["lag", "--json"])).out)
    expect(lagJson).toMatchObject({ stream: streams.stream, groupExists: true, dlqLength: 0 })
  })

  it("claim and rehydrate fail clearly when no processor is listening", async () => {
    const streams = freshStreams("cli-nobody")
    for (const args of [["claim"], ["rehydrate", "352093081234567"]]) {
      const { exit } = await runCli(streams, args)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("no processor is subscribed")
    }
    const tooEager = await runCli(streams, ["claim", "--min-idle-ms", "10"])
    expect(String(tooEager.exit)).toContain("min-idle must be at least")
  })
})

import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Checkpoints } from "../../src/processor/Checkpoints.ts"
import { StateLoader } from "../../src/state/StateStore.ts"
import { Writer, writtenReport } from "../../src/writer/Writer.ts"
import { entryFields, validPayload } from "../support/entries.ts"
import { killAllProcessors, logsMatching, spawnProcessor, startServers, waitFor } from "../support/harness.ts"
import { processorWith, redisFor, testSettings } from "../support/processor.ts"

const consumerNames = async (redis: ReturnType<typeof redisFor>, stream: string) => {
  const reply = (await redis.call("XINFO", "CONSUMERS", stream, "processor")) as Array<Array<unknown>>
  return reply.map((c) => String(c[c.indexOf("name") + 1])).sort()
}

describe("processor housekeeping", () => {
  it.live("removes consumers idle past CONSUMER_IDLE_REMOVE_MS only when nothing is pending for them", () =>
    Effect.gen(function* () {
      const settings = testSettings({ CONSUMER_IDLE_REMOVE_MS: "1000", CLAIM_THRESHOLD_MS: "600000" })
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      yield* Effect.promise(async () => {
        await redis.call("XGROUP", "CREATE", stream, "processor", "0", "MKSTREAM")
        await redis.call("XGROUP", "CREATECONSUMER", stream, "processor", "gone-empty")
        await redis.call("XADD", stream, "*", ...entryFields(validPayload("held", 1)))
        // gone-busy read an entry and vanished: its entry is pending, so it must stay.
        await redis.call("XREADGROUP", "GROUP", "processor", "gone-busy", "COUNT", 1, "STREAMS", stream, ">")
        await waitFor(async () => {
          const reply = (await redis.call("XINFO", "CONSUMERS", stream, "processor")) as Array<Array<unknown>>
          return reply.every((c) => Number(c[c.indexOf("idle") + 1]) > 1000)
        }, "both ghosts idle past the bound")
      })
      const writer = Writer.layerTest((positions) => Effect.succeed(writtenReport(positions)))
      const run = yield* Effect.forkChild(
        processorWith(settings, { writer, stateLoader: StateLoader.layerNone, checkpoints: Checkpoints.layerMemory }),
      )
      const names = yield* Effect.promise(async () => {
        await waitFor(async () => !(await consumerNames(redis, stream)).includes("gone-empty"), "gone-empty removed")
        return consumerNames(redis, stream)
      })
      expect(names).toContain("gone-busy")
      expect(names).toContain("c1")
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  it("warns loudly at start when Redis may evict the stream (maxmemory-policy is not noeviction)", async () => {
    const servers = await startServers()
    try {
      await servers.client.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
      const p = spawnProcessor(servers, "p1")
      await waitFor(async () => logsMatching(p, /maxmemory-policy/).length > 0, "the warning")
      const [line] = logsMatching(p, /maxmemory-policy/)
      expect(line).toContain('"level":"ERROR"')
      expect(line).toContain("allkeys-lru")
    } finally {
      killAllProcessors()
      await servers.close()
    }
  })
})

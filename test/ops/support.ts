import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { inject } from "vitest"
import { Consumer, type DeadLetter } from "../../src/consumer/Consumer.ts"
import { RedisClient } from "../../src/redis/RedisClient.ts"
import { validPayload } from "../support/entries.ts"

let keys = 0

/** Fresh stream names on the shared test Redis, so test files never see each other's entries. */
export const freshStreams = (label: string) => {
  const stream = `ops-test:${label}:${process.pid}:${Date.now().toString(36)}:${keys++}`
  return { stream, dlqStream: `${stream}:dlq`, group: "processor" }
}

export const redisUrl = () => inject("redisUrl")

/** Env for the CLI's config (AppConfig StreamSettings) pointing at the given streams. */
export const envFor = (streams: ReturnType<typeof freshStreams>, extra: Record<string, string> = {}) =>
  ConfigProvider.layer(
    ConfigProvider.fromEnv({
      env: {
        REDIS_URL: redisUrl(),
        REDIS_TELEMETRY_STREAM: streams.stream,
        REDIS_CONSUMER_GROUP: streams.group,
        DLQ_STREAM: streams.dlqStream,
        ...extra,
      },
    }),
  )

export const examplePayload = (deviceId: string, ts: number) => JSON.stringify(validPayload(deviceId, ts))

/**
 * Dead-letters `fieldSets` the way the processor does: XADD to the stream, read them into the
 * group as consumer `c1`, then Consumer.deadLetter (the MULTI/EXEC script). Returns the original
 * stream ids in order.
 */
export const seedDlq = (
  streams: ReturnType<typeof freshStreams>,
  fieldSets: ReadonlyArray<ReadonlyArray<string>>,
  errorTag = "CodecError",
) =>
  Effect.gen(function* () {
    const redis = yield* RedisClient
    const consumer = yield* Consumer
    yield* consumer.ensureGroup("$")
    const ids: Array<string> = []
    for (const fields of fieldSets) {
      ids.push(String(yield* redis.commands.call("XADD", [streams.stream, "*", ...fields])))
    }
    const { entries: read } = yield* consumer.readNew(fieldSets.length, 0)
    const letters: Array<DeadLetter> = read.entries().map((entry) => ({
      entry: { id: entry.id, fields: entry.fields ?? [] },
      errorTag,
      errorMessage: `bad entry ${entry.id}`,
      deliveries: 1,
    }))
    yield* consumer.deadLetter(letters)
    return ids
  }).pipe(
    Effect.provide(
      Consumer.layer({ ...streams, consumer: "c1" }).pipe(
        Layer.provideMerge(RedisClient.layer(Redacted.make(redisUrl()), "ops-test-seed")),
      ),
    ),
  )

export const rawRedis = () => new Redis(redisUrl())

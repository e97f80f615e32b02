import { ConfigProvider, Duration, Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { inject } from "vitest"
import { ProcessorSettings } from "../../src/config/AppConfig.ts"
import { processorOptions, processorServices, type StorageLayers } from "../../src/processor/layer.ts"
import { runProcessor } from "../../src/processor/Processor.ts"
import { RedisClient } from "../../src/redis/RedisClient.ts"

let streams = 0

/** Settings for one in-process processor on its own stream of the shared test Redis. */
export const testSettings = (env: Record<string, string> = {}) =>
  Effect.runSync(
    ProcessorSettings.parse(
      ConfigProvider.fromEnv({
        env: {
          REDIS_URL: inject("redisUrl"),
          POSTGRES_URL: inject("postgresAdminUrl"),
          REDIS_TELEMETRY_STREAM: `test:${process.pid}:${Date.now().toString(36)}:${streams++}`,
          REDIS_CONSUMER_NAME: "c1",
          READ_BLOCK_MS: "100",
          CLAIM_INTERVAL_MS: "200",
          ...env,
        },
      }),
    ),
  )

/** The processor's run loop with the given overrides, provided with a real Redis connection. */
export const processorWith = (settings: ProcessorSettings, overrides: StorageLayers<never>) =>
  runProcessor(processorOptions(settings)).pipe(
    Effect.provide(
      processorServices(settings, overrides).pipe(
        Layer.provideMerge(RedisClient.layer(settings.stream.redis.url, settings.consumer)),
      ),
    ),
  )

export const redisFor = (settings: ProcessorSettings) => new Redis(Redacted.value(settings.stream.redis.url))

/** Polls until `check` holds; the bound only stops a broken test from hanging, it asserts nothing. */
export const eventually = async <A>(check: () => Promise<A | undefined | false>, what: string, boundMs = 60_000) => {
  const deadline = Date.now() + boundMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`still waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** XPENDING's count; -1 while the group does not exist yet. */
export const pendingCount = async (redis: Redis, stream: string, group: string) => {
  try {
    const reply = (await redis.call("XPENDING", stream, group)) as [number, ...Array<unknown>]
    return reply[0]
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("NOGROUP")) return -1
    throw error
  }
}

export const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))

import { Effect, Layer } from "effect"
import type { ProcessorSettings } from "../../src/config/AppConfig.ts"
import { PostgresFromUrl } from "../../src/db/Postgres.ts"
import { type HttpRoleSettings, ProcessorOpsLive } from "../../src/http/roles.ts"
import { Migrator, migrateWithRetry } from "../../src/migrator/Migrator.ts"
import { postgresStorage, processorOptions, processorServices } from "../../src/processor/layer.ts"
import { runProcessor } from "../../src/processor/Processor.ts"
import { RedisClient } from "../../src/redis/RedisClient.ts"

/**
 * `processorProgram` (src/cli/processor.ts) with ProcessorOpsLive added next to the pipeline's
 * services: exactly the wiring proposed for processor.ts. Once that is in place this can become
 * `processorProgram(settings, http)`.
 */
export const processorWithOps = (settings: ProcessorSettings, http: HttpRoleSettings) => {
  const program = Effect.gen(function* () {
    if (settings.migrateOnStart) yield* migrateWithRetry
    return yield* runProcessor(processorOptions(settings))
  })
  const layers = processorServices(settings, postgresStorage(settings)).pipe(
    Layer.provideMerge(Migrator.layer),
    Layer.provideMerge(RedisClient.layer(settings.stream.redis.url, settings.consumer)),
    Layer.provideMerge(PostgresFromUrl(settings.postgres.url, settings.postgres.poolSize)),
  )
  return program.pipe(Effect.provide(Layer.provideMerge(ProcessorOpsLive(settings, http), layers)))
}

/** Polls until `check` holds; the bound only stops a broken test from hanging, it asserts nothing. */
export const eventually = async <A>(
  check: () => Promise<A | undefined | false>,
  what: string,
  boundMs = 60_000,
): Promise<A> => {
  const deadline = Date.now() + boundMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) throw new Error(`still waiting for: ${what}`, { cause: lastError })
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** `name{labels} value` lines of a Prometheus text exposition; throws on a line that is neither
 * that nor a comment, so a malformed exposition fails the test. */
export const parsePrometheus = (text: string): Map<string, number> => {
  const samples = new Map<string, number>()
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue
    const match = sample.exec(line)
    if (match === null) throw new Error(`not Prometheus text: ${line}`)
    samples.set(match[1] as string, Number(match[2]))
  }
  return samples
}

import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { HttpSettings, ProcessorSettings } from "../config/AppConfig.ts"
import { PostgresFromUrl, PostgresLive } from "../db/Postgres.ts"
import { type HttpRoleSettings, ProcessorOpsLive } from "../http/roles.ts"
import { Migrator, migrateWithRetry } from "../migrator/Migrator.ts"
import { postgresStorage, processorOptions, processorServices } from "../processor/layer.ts"
import { runProcessor } from "../processor/Processor.ts"
import { RedisClient } from "../redis/RedisClient.ts"
import { installDrainDeadline } from "./shutdown.ts"

/** The processor with everything it needs, from validated settings; with `http`, also its HTTP
 * server (health, readiness, metrics, management API), control channel and gauges. */
export const processorProgram = (settings: ProcessorSettings, http?: HttpRoleSettings) => {
  const program = Effect.gen(function* () {
    if (settings.migrateOnStart) yield* migrateWithRetry
    return yield* runProcessor(processorOptions(settings))
  })
  const layers = processorServices(settings, postgresStorage(settings)).pipe(
    Layer.provideMerge(Migrator.layer),
    Layer.provideMerge(RedisClient.layer(settings.stream.redis.url, settings.consumer)),
    Layer.provideMerge(PostgresFromUrl(settings.postgres.url, settings.postgres.poolSize)),
  )
  return program.pipe(
    Effect.provide(http === undefined ? layers : Layer.provideMerge(ProcessorOpsLive(settings, http), layers)),
    // No tracer is exported: each SQL statement's span (with its attributes and clock reads) would be
    // built per batch and dropped.
    Effect.withTracerEnabled(false),
  )
}

export const processorCommand = Command.make("processor", {}, () =>
  Effect.gen(function* () {
    const settings = yield* ProcessorSettings
    const http = yield* HttpSettings
    yield* installDrainDeadline(settings.drainTimeoutMs)
    return yield* processorProgram(settings, http)
  }),
).pipe(
  Command.withDescription(
    "Consume the Redis Stream with a consumer group, decode, update device state, write to PostgreSQL, acknowledge",
  ),
)

export const migrateCommand = Command.make("migrate", {}, () =>
  migrateWithRetry.pipe(Effect.asVoid, Effect.provide(Migrator.layer.pipe(Layer.provide(PostgresLive)))),
).pipe(Command.withDescription("Apply pending SQL migrations under an advisory lock, then exit"))

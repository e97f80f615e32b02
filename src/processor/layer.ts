import { Layer } from "effect"
import type { SqlClient } from "effect/sql"
import type { ProcessorSettings } from "../config/AppConfig.ts"
import { Consumer } from "../consumer/Consumer.ts"
import { Decoder } from "../decoder/Decoder.ts"
import { HeapPolicy } from "../runtime/HeapPolicy.ts"
import { PostgresStateLoader } from "../state/PostgresStateLoader.ts"
import { type StateLoader, StateStore } from "../state/StateStore.ts"
import { Writer } from "../writer/Writer.ts"
import { BatchProcessor } from "./BatchProcessor.ts"
import { Checkpoints } from "./Checkpoints.ts"
import { GroupRecovery } from "./GroupRecovery.ts"
import { Heartbeat } from "./Heartbeat.ts"
import type { ProcessorOptions } from "./Processor.ts"

export const processorOptions = (s: ProcessorSettings): ProcessorOptions => ({
  readCount: s.readCount,
  readBlockMs: s.readBlockMs,
  writeConcurrency: s.writeConcurrency,
  claimThresholdMs: s.claimThresholdMs,
  claimIntervalMs: s.claimIntervalMs,
  checkpointIntervalMs: Math.min(5_000, s.claimIntervalMs),
  consumerIdleRemoveMs: s.consumerIdleRemoveMs,
})

/** The layers that reach past Redis: PostgreSQL's, and the V8 heap's. A test swaps them for its own
 * (a Writer that fails on demand, checkpoints in memory, marking reports recorded) and then needs no
 * database at all. */
export interface StorageLayers<R> {
  readonly writer: Layer.Layer<Writer, never, R>
  readonly stateLoader: Layer.Layer<StateLoader, never, R>
  readonly checkpoints: Layer.Layer<Checkpoints, never, R>
  /** Default: the real one, per CONCURRENT_MARKING and HEAP_GROWTH_*. */
  readonly heapPolicy?: Layer.Layer<HeapPolicy>
}

export const postgresStorage = (s: ProcessorSettings): StorageLayers<SqlClient.SqlClient> => ({
  writer: Writer.layerFromUrl(s.postgres.url, { chunkSize: s.writeBatchSize, connections: s.writeConcurrency }),
  stateLoader: PostgresStateLoader,
  checkpoints: Checkpoints.layer(s.stream.redis.stream, s.stream.group),
})

/** The processor's services over a RedisClient and a SqlClient (provided by the caller): the
 * Consumer, Decoder, StateStore, Writer and what ties them together. */
export const processorServices = <R>(s: ProcessorSettings, storage: StorageLayers<R>) => {
  const consumer = Consumer.layer({
    stream: s.stream.redis.stream,
    group: s.stream.group,
    consumer: s.consumer,
    dlqStream: s.stream.dlqStream,
  })
  const state = StateStore.layer({ maxDevices: s.stateMaxDevices }).pipe(Layer.provide(storage.stateLoader))
  const { writer, checkpoints } = storage
  const recovery = GroupRecovery.layer.pipe(Layer.provide(checkpoints))
  const batches = BatchProcessor.layer({ maxDeliveries: s.maxDeliveries, claimThresholdMs: s.claimThresholdMs }).pipe(
    Layer.provide(Layer.mergeAll(Decoder.layer, state, writer, recovery)),
  )
  return Layer.mergeAll(
    batches,
    recovery,
    checkpoints,
    state,
    Heartbeat.layer,
    storage.heapPolicy ??
      HeapPolicy.layer({
        concurrentMarking: s.concurrentMarking,
        growthPercent: s.heapGrowthPercent,
        growthCap: s.heapGrowthCap,
        budgetBytes: s.heapBudgetMb * 1024 * 1024,
      }),
  ).pipe(Layer.provideMerge(consumer))
}

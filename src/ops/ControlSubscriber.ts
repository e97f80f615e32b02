import { Effect, FiberSet, Layer, Queue, type Redacted, Result } from "effect"
import { Consumer } from "../consumer/Consumer.ts"
import { BatchProcessor } from "../processor/BatchProcessor.ts"
import { claimPass } from "../processor/claimPass.ts"
import { connect, RedisClient } from "../redis/RedisClient.ts"
import { toRedisError } from "../redis/RedisError.ts"
import { StateStore } from "../state/StateStore.ts"
import { type ControlReply, type ControlRequest, controlChannel, decodeRequest, replyChannel } from "./control.ts"

export interface ControlSubscriberOptions {
  readonly redisUrl: Redacted.Redacted<string>
  /** CLAIM_THRESHOLD_MS: a claim request without its own threshold uses the processor's. */
  readonly claimThresholdMs: number
  /** READ_COUNT: entries per claim round. */
  readonly readCount: number
}

/**
 * The processor's side of the control channel (control.ts), for the lifetime of the layer: a
 * dedicated connection in subscriber mode (a subscribed connection can run nothing else, and the
 * pipeline's connections must not wait behind it). ioredis re-subscribes after a reconnect.
 *
 * - `rehydrate`: `StateStore.forget(device)`; the device's next record reloads it from PostgreSQL.
 * - `claim`: one claim pass now (processor/claimPass.ts), through this processor's BatchProcessor.
 *
 * Each request runs in its own fiber, so a long claim pass does not hold up a rehydrate. Answers
 * go out on the command connection. Shutting down interrupts a pass between batches; a batch
 * already taken finishes (BatchProcessor is uninterruptible), the rest stays pending.
 */
export const ControlSubscriberLive = (options: ControlSubscriberOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const consumer = yield* Consumer
      const batches = yield* BatchProcessor
      const state = yield* StateStore
      const redis = yield* RedisClient
      const { stream, consumer: self } = consumer.options
      const channel = controlChannel(stream)

      const inbox = yield* Queue.unbounded<string>()
      const { client } = yield* connect(options.redisUrl, `${self}:control`)
      client.on("message", (from: string, message: string) => {
        if (from === channel) Queue.offerUnsafe(inbox, message)
      })
      yield* Effect.tryPromise({
        try: () => client.subscribe(channel),
        catch: (error) => toRedisError("SUBSCRIBE", error),
      })

      const answer = (request: ControlRequest, reply: Omit<ControlReply, "id" | "consumer" | "type">) =>
        redis.commands
          .call("PUBLISH", [
            replyChannel(stream, request.id),
            JSON.stringify({ id: request.id, consumer: self, type: request.type, ...reply }),
          ])
          .pipe(
            Effect.catch((error) =>
              Effect.logWarning("could not answer a control request").pipe(
                Effect.annotateLogs({ requestId: request.id, error: error.message }),
              ),
            ),
          )

      const handle = (request: ControlRequest) => {
        switch (request.type) {
          case "rehydrate":
            return Effect.sync(() => {
              const had = state.get(request.device) !== undefined
              state.forget(request.device)
              return had
            }).pipe(
              Effect.tap((forgot) =>
                Effect.logInfo("device state dropped on request; next record rehydrates it").pipe(
                  Effect.annotateLogs({ device: request.device, wasInMemory: forgot, requestId: request.id }),
                ),
              ),
              Effect.flatMap((forgot) => answer(request, { ok: true, forgot })),
            )
          case "claim":
            return claimPass({
              minIdleMs: request.minIdleMs ?? options.claimThresholdMs,
              count: options.readCount,
              fromConsumer: request.consumer,
            }).pipe(
              Effect.provideService(Consumer, consumer),
              Effect.provideService(BatchProcessor, batches),
              Effect.provideService(RedisClient, redis),
              Effect.matchEffect({
                onSuccess: (report) => answer(request, { ok: true, ...report }),
                onFailure: (error) =>
                  Effect.logWarning("claim pass on request failed").pipe(
                    Effect.annotateLogs({ requestId: request.id, error: error.message }),
                    Effect.andThen(answer(request, { ok: false, error: error.message })),
                  ),
              }),
            )
        }
      }

      const running = yield* FiberSet.make()
      const loop = Effect.gen(function* () {
        const message = yield* Queue.take(inbox)
        const decoded = decodeRequest(message)
        if (Result.isFailure(decoded)) {
          // Anyone with access to Redis can publish here: a bad message is logged, never fatal.
          yield* Effect.logWarning("ignored a malformed control message").pipe(
            Effect.annotateLogs({ channel, reason: decoded.failure.message.slice(0, 300) }),
          )
          return
        }
        yield* FiberSet.run(running, handle(decoded.success))
      }).pipe(Effect.forever)
      yield* Effect.forkScoped(loop, { startImmediately: true })
      yield* Effect.logInfo("listening for control requests").pipe(Effect.annotateLogs({ channel }))
    }),
  )

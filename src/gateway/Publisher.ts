import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { RedisClient } from "../redis/RedisClient.ts"
import type { AvlRecord } from "./codec/index.ts"
import { GatewayConfig } from "./GatewayConfig.ts"
import { type Transport, toEntry } from "./toEntry.ts"

/** The XADDs of one packet did not all succeed (Redis error or timeout): the packet must not be acknowledged. */
export class PublishFailed extends Schema.TaggedError<PublishFailed>()("PublishFailed", {
  records: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `publishing ${this.records} record(s) failed: ${this.reason}`
  }
}

type Command = readonly [string, ...Array<string>]

/**
 * Writes the records of one AVL packet to the telemetry stream, one entry per record, in one round
 * trip. Several records go in one MULTI/EXEC so a packet is stored whole or not at all: a Redis
 * crash mid-packet can then only cause a whole-packet resend (duplicates the processor absorbs),
 * never a half-stored packet followed by a resend of all of it.
 */
export class Publisher extends Context.Service<
  Publisher,
  {
    readonly publish: (
      imei: string,
      records: ReadonlyArray<AvlRecord>,
      transport: Transport,
      receivedAtMs: number,
    ) => Effect.Effect<void, PublishFailed>
  }
>()("telemetry/gateway/Publisher") {
  static readonly layer = Layer.effect(
    Publisher,
    Effect.gen(function* () {
      const redis = yield* RedisClient
      const config = yield* GatewayConfig
      const head: Array<string> = Option.match(config.streamMaxLen, {
        onNone: () => [config.redis.stream, "*"],
        onSome: (n) => [config.redis.stream, "MAXLEN", "~", String(n), "*"],
      })
      const timeout = Duration.millis(config.publishTimeoutMs)

      const publish = (
        imei: string,
        records: ReadonlyArray<AvlRecord>,
        transport: Transport,
        receivedAtMs: number,
      ): Effect.Effect<void, PublishFailed> => {
        const n = records.length
        if (n === 0) return Effect.void
        const commands: Array<Command> = new Array(n)
        for (let i = 0; i < n; i++) {
          commands[i] = ["XADD", ...head, ...toEntry(records[i] as AvlRecord, imei, transport, receivedAtMs)]
        }
        const first = commands[0] as Command
        const write = n === 1 ? redis.commands.call(first[0], first.slice(1)) : redis.commands.transaction(commands)
        return write.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(new PublishFailed({ records: n, reason: `timed out after ${config.publishTimeoutMs} ms` })),
          }),
          Effect.mapError((e) =>
            e._tag === "PublishFailed" ? e : new PublishFailed({ records: n, reason: e.message }),
          ),
          Effect.asVoid,
        )
      }
      return Publisher.of({ publish })
    }),
  )
}

import * as Os from "node:os"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { runGateway } from "../gateway/Gateway.ts"
import { GatewayConfig, GatewaySettings } from "../gateway/GatewayConfig.ts"
import { RedisClient } from "../redis/RedisClient.ts"

/** The gateway with everything it needs, from validated settings. */
export const gatewayProgram = (settings: GatewaySettings) =>
  runGateway.pipe(
    Effect.provide(GatewayConfig.layerWith(settings)),
    Effect.provide(RedisClient.layer(settings.redis.url, `gateway-${Os.hostname()}`)),
  )

export const gatewayCommand = Command.make("gateway", {}, () =>
  Effect.gen(function* () {
    const settings = yield* GatewaySettings
    return yield* gatewayProgram(settings)
  }),
).pipe(
  Command.withDescription(
    "Teltonika TCP/UDP server: decode AVL packets, XADD one entry per record, ACK the device after the XADD succeeded",
  ),
)

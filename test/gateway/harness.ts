/**
 * Test helpers for the gateway: run it in-process against a real Redis with literal settings, talk
 * to it as a device over real sockets, read the stream back. Every wait is for a condition with a
 * generous bound; nothing asserts how long something took.
 */
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import { Effect, Layer, ManagedRuntime, Metric, Option, Redacted, References } from "effect"
import { Redis } from "ioredis"
import { freePort } from "../../src/devservers/index.ts"
import { Gateway } from "../../src/gateway/Gateway.ts"
import { GatewayConfig, type GatewaySettings } from "../../src/gateway/GatewayConfig.ts"
import { RedisClient } from "../../src/redis/RedisClient.ts"

export const WAIT_MS = 15_000

let streams = 0
/** A stream key no other test uses, so tests share a Redis without seeing each other's entries. */
export const uniqueStream = (): string => `telemetry:gateway-test:${process.pid}:${Date.now()}:${++streams}`

export interface RunningGateway {
  readonly tcpPort: number
  readonly udpPort: number
  readonly stream: string
  /** The gateway's own metric registry: read with {@link RunningGateway.metric}. */
  readonly counter: (name: string, attributes?: Record<string, string>) => number
  readonly stop: () => Promise<void>
}

export const startGateway = async (
  redisUrl: string,
  overrides: Partial<Omit<GatewaySettings, "redis">> & { readonly stream?: string } = {},
): Promise<RunningGateway> => {
  const { stream = uniqueStream(), ...rest } = overrides
  const registry: Metric.MetricRegistry = new Map()
  const settings: GatewaySettings = {
    redis: { url: Redacted.make(redisUrl), stream },
    host: "127.0.0.1",
    tcpPort: await freePort(),
    udpPort: await freePort(),
    imeiAllowlist: Option.none(),
    maxConnections: 100,
    maxFrameBytes: 65_536,
    loginTimeoutMs: 10_000,
    idleTimeoutMs: 300_000,
    publishTimeoutMs: 5_000,
    streamMaxLen: Option.none(),
    ...rest,
  }
  const layer = Gateway.layer.pipe(
    Layer.provide(GatewayConfig.layerWith(settings)),
    Layer.provide(RedisClient.layer(settings.redis.url, "gateway-test")),
    Layer.provide(Layer.succeed(Metric.MetricRegistry, registry)),
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error")),
  )
  const runtime = ManagedRuntime.make(layer)
  const gateway = await runtime.runPromise(
    Effect.gen(function* () {
      return yield* Gateway
    }),
  )
  return {
    tcpPort: gateway.tcpPort,
    udpPort: gateway.udpPort,
    stream,
    counter: (name, attributes = {}) => {
      let total = 0
      for (const [, hook] of registry) {
        const id = hook.metric
        if (id.id !== name) continue
        const attrs = (id.attributes ?? {}) as Record<string, string>
        if (Object.entries(attributes).some(([k, v]) => attrs[k] !== v)) continue
        const state = hook.state(registry.size === 0 ? undefined : undefined)
        if (typeof state === "object" && state !== null && "count" in state) total += Number(state.count)
        else if (typeof state === "object" && state !== null && "value" in state) total += Number(state.value)
      }
      return total
    },
    stop: () => runtime.dispose(),
  }
}

/** A device's end of a TCP connection, promise-based for tests. */
export class TestDevice {
  readonly socket: Net.Socket
  private inbound: Buffer = Buffer.alloc(0)
  private isClosed = false
  private readonly waiters = new Set<() => void>()

  private constructor(socket: Net.Socket) {
    this.socket = socket
    socket.on("data", (chunk: Buffer) => {
      this.inbound = Buffer.concat([this.inbound, chunk])
      this.notify()
    })
    socket.on("close", () => {
      this.isClosed = true
      this.notify()
    })
    // A reset by the gateway is an expected outcome in these tests; 'close' reports it.
    socket.on("error", () => undefined)
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter()
  }

  private until<A>(check: () => A | undefined, timeoutMs: number): Promise<A | undefined> {
    return new Promise((resolve) => {
      const attempt = () => {
        const value = check()
        if (value !== undefined) {
          done(value)
        }
      }
      const done = (value: A | undefined) => {
        clearTimeout(timer)
        this.waiters.delete(attempt)
        resolve(value)
      }
      const timer = setTimeout(() => done(undefined), timeoutMs)
      this.waiters.add(attempt)
      attempt()
    })
  }

  static connect(port: number): Promise<TestDevice> {
    return new Promise((resolve, reject) => {
      const socket = Net.connect({ host: "127.0.0.1", port, noDelay: true })
      socket.once("error", reject)
      socket.once("connect", () => {
        socket.off("error", reject)
        resolve(new TestDevice(socket))
      })
    })
  }

  /** Connects and logs in; the gateway's one-byte answer. */
  static async login(port: number, imei: string, encode: (imei: string) => Uint8Array): Promise<TestDevice> {
    const device = await TestDevice.connect(port)
    device.send(encode(imei))
    const reply = await device.read(1)
    if (reply?.[0] !== 1) throw new Error(`login of ${imei} was answered ${reply?.toString("hex") ?? "with nothing"}`)
    return device
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Exactly `n` bytes, or undefined if the connection closed or the bound passed first. */
  read(n: number, timeoutMs = WAIT_MS): Promise<Buffer | undefined> {
    return this.until(() => {
      if (this.inbound.length >= n) {
        const bytes = this.inbound.subarray(0, n)
        this.inbound = this.inbound.subarray(n)
        return bytes
      }
      return this.isClosed ? null : undefined
    }, timeoutMs).then((v) => v ?? undefined)
  }

  /** Whatever arrived and was not read yet. */
  get unread(): Buffer {
    return this.inbound
  }

  /** True once the gateway has closed the connection (false if the bound passed first). */
  async waitClosed(timeoutMs = WAIT_MS): Promise<boolean> {
    return (await this.until(() => (this.isClosed ? true : undefined), timeoutMs)) === true
  }

  close(): void {
    this.socket.destroy()
  }
}

/** A UDP device: send a datagram, wait for the reply. */
export const udpExchange = (port: number, datagram: Uint8Array, timeoutMs = WAIT_MS): Promise<Buffer | undefined> =>
  new Promise((resolve) => {
    const socket = Dgram.createSocket("udp4")
    const timer = setTimeout(() => finish(undefined), timeoutMs)
    const finish = (reply: Buffer | undefined) => {
      clearTimeout(timer)
      socket.close()
      resolve(reply)
    }
    socket.on("message", (msg) => finish(msg))
    socket.on("error", () => finish(undefined))
    socket.send(datagram, port, "127.0.0.1")
  })

export interface StoredEntry {
  readonly id: string
  readonly fields: Array<string>
}

export const readStream = async (redis: Redis, stream: string): Promise<Array<StoredEntry>> => {
  const entries = (await redis.xrange(stream, "-", "+")) as Array<[string, Array<string>]>
  return entries.map(([id, fields]) => ({ id, fields }))
}

export const payloadOf = (entry: StoredEntry): Record<string, unknown> & { device_id: string; ts: number } => {
  const i = entry.fields.indexOf("payload")
  return JSON.parse(entry.fields[i + 1] as string)
}

/** Polls until `check` holds; fails the test with `what` if it never does within the bound. */
export const eventually = async (what: string, check: () => Promise<boolean> | boolean, timeoutMs = WAIT_MS) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

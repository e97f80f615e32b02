/**
 * Test helpers for the gateway: run it in-process against a real Redis with literal settings, talk
 * to it as a device over real sockets, read the stream back. Every wait is for a condition with a
 * generous bound; nothing asserts how long something took.
 */
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import { Context, Effect, Layer, ManagedRuntime, Metric, Option, Redacted, References } from "effect"
import type { Redis } from "ioredis"
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
  /** Sum of a counter/gauge (or a histogram's count) in this gateway's own metric registry. */
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
  const gateway = await runtime
    .runPromise(
      Effect.gen(function* () {
        return yield* Gateway
      }),
    )
    .catch(async (error: unknown) => {
      await runtime.dispose()
      throw error
    })
  return {
    tcpPort: gateway.tcpPort,
    udpPort: gateway.udpPort,
    stream,
    counter: (name, attributes = {}) => {
      let total = 0
      for (const snapshot of Metric.snapshotUnsafe(Context.make(Metric.MetricRegistry, registry))) {
        if (snapshot.id !== name) continue
        const attrs: Record<string, string> = snapshot.attributes ?? {}
        if (Object.entries(attributes).some(([k, v]) => attrs[k] !== v)) continue
        if (snapshot.type === "Counter") total += Number(snapshot.state.count)
        else if (snapshot.type === "Gauge") total += Number(snapshot.state.value)
        else if (snapshot.type === "Histogram") total += snapshot.state.count
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

/** A UDP device: one local socket, so replies to several datagrams arrive in one place. */
export class UdpDevice {
  private readonly socket: Dgram.Socket
  private readonly replies: Array<Buffer> = []
  private waiter: (() => void) | undefined = undefined

  private constructor(socket: Dgram.Socket) {
    this.socket = socket
    socket.on("message", (msg) => {
      this.replies.push(msg)
      this.waiter?.()
    })
  }

  static open(): Promise<UdpDevice> {
    return new Promise((resolve, reject) => {
      const socket = Dgram.createSocket("udp4")
      socket.once("error", reject)
      socket.bind(0, "127.0.0.1", () => {
        socket.off("error", reject)
        resolve(new UdpDevice(socket))
      })
    })
  }

  send(port: number, datagram: Uint8Array): void {
    this.socket.send(datagram, port, "127.0.0.1")
  }

  /** The next reply, or undefined if none came within the bound. */
  nextReply(timeoutMs = WAIT_MS): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const attempt = () => {
        const reply = this.replies.shift()
        if (reply === undefined) return
        clearTimeout(timer)
        this.waiter = undefined
        resolve(reply)
      }
      const timer = setTimeout(() => {
        this.waiter = undefined
        resolve(undefined)
      }, timeoutMs)
      this.waiter = attempt
      attempt()
    })
  }

  close(): void {
    this.socket.close()
  }
}

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

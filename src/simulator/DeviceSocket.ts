import * as Net from "node:net"
import { Effect, Option, Schema } from "effect"

/** Connecting to the gateway failed (refused, unreachable, timed out). */
export class ConnectFailed extends Schema.TaggedError<ConnectFailed>()("ConnectFailed", {
  reason: Schema.String,
}) {}

/**
 * The device end of a TCP connection: writes frames and waits for exact-length replies (the 1-byte
 * login answer, the 4-byte ACK). Bytes the server sends are buffered until read.
 */
export class DeviceSocket {
  private readonly socket: Net.Socket
  private inbound: Buffer = Buffer.alloc(0)
  private closed = false
  private wake: (() => void) | undefined = undefined
  /** Last socket error, for the device's log line when it reconnects. */
  error: Error | undefined = undefined

  private constructor(socket: Net.Socket) {
    this.socket = socket
    socket.on("data", (chunk: Buffer) => {
      this.inbound = this.inbound.length === 0 ? chunk : Buffer.concat([this.inbound, chunk])
      this.notify()
    })
    socket.on("close", () => {
      this.closed = true
      this.notify()
    })
  }

  private notify(): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /** Opens a connection for the lifetime of the enclosing scope. */
  static connect(host: string, port: number, timeoutMs: number) {
    return Effect.acquireRelease(
      // The time limit is a timer inside the callback: an acquire is uninterruptible, so an
      // `Effect.timeout` around it could not cut short a connect to an unreachable host.
      Effect.callback<DeviceSocket, ConnectFailed>((resume) => {
        const socket = Net.connect({ host, port, noDelay: true })
        const device = new DeviceSocket(socket)
        let settled = false
        const fail = (reason: string) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          socket.destroy()
          resume(Effect.fail(new ConnectFailed({ reason })))
        }
        const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs)
        // One listener for the socket's whole life: before connecting it fails the connect,
        // afterwards it records the error ('close' follows and ends any read).
        socket.on("error", (error) => {
          device.error = error
          fail(error.message)
        })
        socket.once("connect", () => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resume(Effect.succeed(device))
        })
      }),
      (device) => Effect.sync(() => device.destroy()),
    )
  }

  write(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes)
  }

  get isClosed(): boolean {
    return this.closed
  }

  destroy(): void {
    this.socket.destroy()
  }

  /** Exactly `n` bytes, or `None` when the connection closed or nothing came within `timeoutMs`. */
  read(n: number, timeoutMs: number): Effect.Effect<Option.Option<Buffer>> {
    return Effect.callback<Option.Option<Buffer>>((resume) => {
      const attempt = (): void => {
        if (this.inbound.length >= n) {
          clearTimeout(timer)
          const bytes = this.inbound.subarray(0, n)
          this.inbound = this.inbound.subarray(n)
          resume(Effect.succeed(Option.some(bytes)))
        } else if (this.closed) {
          clearTimeout(timer)
          resume(Effect.succeed(Option.none()))
        } else {
          this.wake = attempt
        }
      }
      const timer = setTimeout(() => {
        this.wake = undefined
        resume(Effect.succeed(Option.none()))
      }, timeoutMs)
      attempt()
      return Effect.sync(() => {
        clearTimeout(timer)
        this.wake = undefined
      })
    })
  }
}

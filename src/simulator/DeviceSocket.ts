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
      Effect.callback<DeviceSocket, ConnectFailed>((resume) => {
        const socket = Net.connect({ host, port, noDelay: true })
        const device = new DeviceSocket(socket)
        const onError = (error: Error) => {
          socket.destroy()
          resume(Effect.fail(new ConnectFailed({ reason: error.message })))
        }
        // One listener for the socket's whole life: before connecting it fails the connect,
        // afterwards it records the error for the device's reconnect decision ('close' follows).
        let connected = false
        socket.on("error", (error) => {
          device.error = error
          if (!connected) onError(error)
        })
        socket.once("connect", () => {
          connected = true
          resume(Effect.succeed(device))
        })
        return Effect.sync(() => socket.destroy())
      }).pipe(
        Effect.timeoutOrElse({
          duration: timeoutMs,
          orElse: () => Effect.fail(new ConnectFailed({ reason: `no connection within ${timeoutMs} ms` })),
        }),
      ),
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
    const available = Effect.callback<Option.Option<Buffer>>((resume) => {
      const attempt = (): void => {
        if (this.inbound.length >= n) {
          const bytes = this.inbound.subarray(0, n)
          this.inbound = this.inbound.subarray(n)
          resume(Effect.succeed(Option.some(bytes)))
        } else if (this.closed) {
          resume(Effect.succeed(Option.none()))
        } else {
          this.wake = attempt
        }
      }
      attempt()
      return Effect.sync(() => {
        this.wake = undefined
      })
    })
    return available.pipe(Effect.timeoutOption(timeoutMs), Effect.map(Option.flatten))
  }
}

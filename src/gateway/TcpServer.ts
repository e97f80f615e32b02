import * as Net from "node:net"
import { Cause, Clock, Effect, FiberSet, Metric, Option, Result, Schema } from "effect"
import { IMEI_ACCEPT, IMEI_REJECT, TcpFrameDecoder } from "./codec/index.ts"
import * as M from "./metrics.ts"
import type { Publisher } from "./Publisher.ts"

/** A listener could not be opened (port in use, bad host, no permission): the role cannot start. */
export class GatewayListenError extends Schema.TaggedError<GatewayListenError>()("GatewayListenError", {
  transport: Schema.Literals(["tcp", "udp"]),
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `cannot listen on ${this.transport} ${this.host}:${this.port}: ${this.reason}`
  }
}

export interface TcpSettings {
  readonly host: string
  readonly port: number
  readonly maxConnections: number
  readonly maxFrameBytes: number
  readonly loginTimeoutMs: number
  readonly idleTimeoutMs: number
  readonly imeiAllowlist: Option.Option<ReadonlySet<string>>
}

/**
 * A socket's bytes, one chunk at a time. The socket flows only while a read is waiting and is
 * paused as soon as a chunk arrives, so while a packet is being published nothing more is read:
 * per connection at most one chunk, the kernel's buffers and the decoder's partial frame (bounded
 * by the frame size limit) are held, however fast the device sends.
 */
class SocketReader {
  readonly socket: Net.Socket
  /** Why the socket failed, if it did; reported when the connection ends. */
  error: Error | undefined = undefined
  private chunk: Buffer | undefined = undefined
  private ended = false
  private waiter: ((chunk: Buffer | undefined) => void) | undefined = undefined

  constructor(socket: Net.Socket) {
    this.socket = socket
    // Attached before anything else can happen: a socket 'error' without a listener kills the process.
    socket.on("error", (error) => {
      this.error = error
    })
    socket.on("data", (chunk: Buffer) => {
      socket.pause()
      const waiter = this.waiter
      if (waiter !== undefined) {
        this.waiter = undefined
        waiter(chunk)
      } else {
        this.chunk = this.chunk === undefined ? chunk : Buffer.concat([this.chunk, chunk])
      }
    })
    const onEnd = () => {
      this.ended = true
      const waiter = this.waiter
      this.waiter = undefined
      waiter?.(undefined)
    }
    socket.on("end", onEnd)
    socket.on("close", onEnd)
  }

  /**
   * The next chunk, "closed" once the peer has closed (or the socket failed), or "timeout" when
   * nothing arrived within `timeoutMs`. The timer lives in the callback rather than in
   * `Effect.timeoutOption`, which would race a second fiber on every read of every connection.
   */
  read(timeoutMs: number): Effect.Effect<Buffer | "closed" | "timeout"> {
    return Effect.callback<Buffer | "closed" | "timeout">((resume) => {
      const chunk = this.chunk
      if (chunk !== undefined) {
        this.chunk = undefined
        resume(Effect.succeed(chunk))
        return
      }
      if (this.ended) {
        resume(Effect.succeed("closed"))
        return
      }
      const timer = setTimeout(() => {
        this.waiter = undefined
        this.socket.pause()
        resume(Effect.succeed("timeout"))
      }, timeoutMs)
      this.waiter = (c) => {
        clearTimeout(timer)
        resume(Effect.succeed(c ?? "closed"))
      }
      this.socket.resume()
      return Effect.sync(() => {
        clearTimeout(timer)
        this.waiter = undefined
        this.socket.pause()
      })
    })
  }

  /** Writes a last reply and closes gracefully, waiting (briefly) until it is flushed. */
  endWith(bytes: Uint8Array): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      this.socket.end(bytes, () => resume(Effect.void))
    }).pipe(Effect.timeoutOption(1_000), Effect.asVoid)
  }
}

const remoteOf = (socket: Net.Socket): string => `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`

/**
 * One device connection: await the IMEI login, then AVL packets until the connection ends.
 * Returns why it ended. Each AVL packet's records are published, and only then acknowledged.
 */
const serveConnection = Effect.fnUntraced(function* (
  reader: SocketReader,
  settings: TcpSettings,
  publisher: Publisher["Service"],
): Effect.fn.Return<M.CloseReason> {
  const socket = reader.socket
  const decoder = new TcpFrameDecoder({ maxFrameSize: settings.maxFrameBytes })
  const allowlist = Option.getOrUndefined(settings.imeiAllowlist)
  let imei: string | undefined
  const loginDeadline = (yield* Clock.currentTimeMillis) + settings.loginTimeoutMs
  // A frame whose first bytes have arrived must be complete by then: a device trickling a frame
  // a byte at a time would otherwise hold its connection (and buffer) open indefinitely.
  let frameDeadline: number | undefined

  for (;;) {
    const now = yield* Clock.currentTimeMillis
    let wait = settings.idleTimeoutMs
    let onTimeout: M.CloseReason = "idle_timeout"
    if (imei === undefined) {
      wait = loginDeadline - now
      onTimeout = "login_timeout"
    } else if (frameDeadline !== undefined && frameDeadline - now < wait) {
      wait = frameDeadline - now
      onTimeout = "slow_frame"
    }
    const chunk = yield* reader.read(Math.max(0, wait))
    if (chunk === "timeout") {
      yield* Effect.logInfo("closing connection: timed out").pipe(
        Effect.annotateLogs({ reason: onTimeout, imei: imei ?? null, bufferedBytes: decoder.buffered }),
      )
      return onTimeout
    }
    if (chunk === "closed") return "peer_closed"
    const receivedAt = yield* Clock.currentTimeMillis
    decoder.push(chunk)

    for (;;) {
      const next = decoder.next(imei === undefined ? "login" : "data")
      if (next === undefined) break
      if (Result.isFailure(next)) {
        const error = next.failure
        yield* M.countFrame("tcp", error._tag)
        yield* Effect.logWarning("closing connection: malformed frame").pipe(
          Effect.annotateLogs({ error: error._tag, detail: error.message, imei: imei ?? null }),
        )
        return "codec_error"
      }
      const frame = next.success
      switch (frame._tag) {
        case "Ping":
          yield* M.countFrame("tcp", "ok")
          break
        case "Imei": {
          if (allowlist !== undefined && !allowlist.has(frame.imei)) {
            yield* M.countFrame("tcp", "ImeiRejected")
            yield* Effect.logWarning("login rejected: IMEI not in GATEWAY_IMEI_ALLOWLIST").pipe(
              Effect.annotateLogs({ imei: frame.imei }),
            )
            yield* reader.endWith(IMEI_REJECT)
            return "imei_rejected"
          }
          imei = frame.imei
          socket.write(IMEI_ACCEPT)
          yield* M.countFrame("tcp", "ok")
          yield* Effect.logDebug("device logged in").pipe(Effect.annotateLogs({ imei }))
          break
        }
        case "Message":
          // Codec 12–15 frames from a device answer commands; this gateway sends none yet (the
          // management API will), so there is nothing to route them to. Ignoring keeps the
          // connection: closing would only make the device reconnect and resend its data.
          yield* M.countFrame("tcp", "ignored")
          yield* Effect.logInfo("ignoring command/response frame from device").pipe(
            Effect.annotateLogs({ imei: imei ?? null, codec: frame.codecId, messages: frame.messages.length }),
          )
          break
        case "Avl": {
          // Unreachable in practice: the decoder only yields AVL frames in the "data" phase.
          if (imei === undefined) return "codec_error"
          const device = imei
          const ack = frame.ack
          const records = frame.records
          // The ACK is written inside the same uninterruptible region as the XADDs, so a shutdown
          // arriving meanwhile never leaves stored records unacknowledged (that would only cost a
          // resend, but there is no reason to).
          const published = yield* publisher.publish(device, records, "tcp", receivedAt).pipe(
            Effect.tap(() => Effect.sync(() => socket.write(ack))),
            Effect.uninterruptible,
            Effect.result,
          )
          if (Result.isFailure(published)) {
            yield* M.countFrame("tcp", "PublishFailed")
            yield* Metric.update(M.publishFailures, 1)
            yield* Effect.logWarning("closing connection: records not stored, no ACK (the device resends)").pipe(
              Effect.annotateLogs({ imei: device, records: records.length, error: published.failure.reason }),
            )
            return "publish_failed"
          }
          const acked = yield* Clock.currentTimeMillis
          yield* M.countFrame("tcp", "ok")
          yield* M.countPublished("tcp", records.length)
          yield* Metric.update(M.ackLatency, (acked - receivedAt) / 1000)
          break
        }
      }
    }
    frameDeadline = decoder.buffered === 0 ? undefined : (frameDeadline ?? receivedAt + settings.loginTimeoutMs)
  }
})

/**
 * The TCP listener as a scoped resource. Closing the scope first stops accepting, then interrupts
 * the connections: one waiting for bytes closes at once, one publishing finishes (bounded by
 * the publish timeout) and acknowledges first.
 */
export const startTcpServer = Effect.fnUntraced(function* (settings: TcpSettings, publisher: Publisher["Service"]) {
  const runFork = yield* FiberSet.makeRuntime()
  let active = 0

  const connection = (socket: Net.Socket, reader: SocketReader) => {
    const remote = remoteOf(socket)
    return Effect.gen(function* () {
      yield* Metric.modify(M.connections, 1)
      yield* Metric.update(M.connectionsTotal, 1)
      const reason = yield* serveConnection(reader, settings, publisher).pipe(
        Effect.catchDefect((defect) =>
          // A bug, not bad input (the codec turns every input into a typed result). It costs
          // this connection only; the device reconnects and resends.
          Effect.logError("connection failed unexpectedly", Cause.die(defect)).pipe(
            Effect.as<M.CloseReason>("internal_error"),
          ),
        ),
        Effect.onInterrupt(() => M.countClosed("shutdown")),
      )
      yield* M.countClosed(reason)
      yield* Effect.logDebug("connection closed").pipe(
        Effect.annotateLogs({ reason, socketError: reader.error?.message ?? null }),
      )
    }).pipe(
      Effect.ensuring(
        Effect.suspend(() => {
          active--
          socket.destroy()
          return Metric.modify(M.connections, -1)
        }),
      ),
      Effect.annotateLogs({ remote }),
    )
  }

  const onConnection = (socket: Net.Socket) => {
    if (active >= settings.maxConnections) {
      // Refused before any byte is read; errors of a socket being torn down have no one to
      // report to and must not reach the process as an unhandled 'error' event.
      socket.on("error", () => undefined)
      socket.destroy()
      runFork(
        M.countClosed("max_connections").pipe(
          Effect.andThen(
            Effect.logWarning("connection refused: GATEWAY_MAX_CONNECTIONS reached").pipe(
              Effect.annotateLogs({ remote: remoteOf(socket), maxConnections: settings.maxConnections }),
            ),
          ),
        ),
      )
      return
    }
    active++
    socket.setNoDelay(true)
    runFork(connection(socket, new SocketReader(socket)))
  }

  const server = yield* Effect.acquireRelease(
    Effect.callback<Net.Server, GatewayListenError>((resume) => {
      const server = Net.createServer()
      const onListenError = (error: Error) =>
        resume(
          Effect.fail(
            new GatewayListenError({
              transport: "tcp",
              host: settings.host,
              port: settings.port,
              reason: error.message,
            }),
          ),
        )
      server.once("error", onListenError)
      server.listen(settings.port, settings.host, () => {
        server.off("error", onListenError)
        // After start-up a server 'error' is an accept failure (e.g. EMFILE); the server keeps
        // listening, so it is logged, not fatal.
        server.on("error", (error) => {
          runFork(Effect.logError("TCP accept failed", Cause.fail(error)))
        })
        server.on("connection", onConnection)
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.sync(() => {
        server.off("connection", onConnection)
        server.close()
      }).pipe(
        Effect.andThen(Effect.logInfo("TCP listener closed").pipe(Effect.annotateLogs({ openConnections: active }))),
      ),
  )
  const address = server.address()
  return { port: address !== null && typeof address === "object" ? address.port : settings.port }
})

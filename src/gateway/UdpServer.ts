import * as Dgram from "node:dgram"
import * as Net from "node:net"
import { Cause, Clock, Effect, FiberSet, Metric, Option, Result } from "effect"
import { decodeUdpDatagram } from "./codec/index.ts"
import * as M from "./metrics.ts"
import type { Publisher } from "./Publisher.ts"
import { GatewayListenError } from "./TcpServer.ts"

export interface UdpSettings {
  readonly host: string
  readonly port: number
  readonly imeiAllowlist: Option.Option<ReadonlySet<string>>
}

/**
 * Datagrams being published at once. UDP has no flow control to push back with, so beyond this
 * datagrams are dropped unacknowledged (the device resends them) rather than queued without bound
 * while Redis is slow or down.
 */
export const UDP_MAX_IN_FLIGHT = 1_024

/**
 * The UDP listener as a scoped resource: each datagram is decoded, its records published, and only
 * then the UDP ACK sent. Closing the scope stops receiving, lets datagrams being published finish
 * and acknowledge, then closes the socket.
 */
export const startUdpServer = Effect.fnUntraced(function* (settings: UdpSettings, publisher: Publisher["Service"]) {
  const allowlist = Option.getOrUndefined(settings.imeiAllowlist)
  const socket = yield* Effect.acquireRelease(
    Effect.callback<Dgram.Socket, GatewayListenError>((resume) => {
      const socket = Dgram.createSocket(Net.isIPv6(settings.host) ? "udp6" : "udp4")
      const onListenError = (error: Error) => {
        socket.close()
        resume(
          Effect.fail(
            new GatewayListenError({
              transport: "udp",
              host: settings.host,
              port: settings.port,
              reason: error.message,
            }),
          ),
        )
      }
      socket.once("error", onListenError)
      socket.bind(settings.port, settings.host, () => {
        socket.off("error", onListenError)
        resume(Effect.succeed(socket))
      })
    }),
    (socket) =>
      Effect.callback<void>((resume) => {
        socket.close(() => resume(Effect.void))
      }),
  )
  const runFork = yield* FiberSet.makeRuntime()
  let inFlight = 0

  const handle = (datagram: Buffer, peer: Dgram.RemoteInfo) =>
    Effect.gen(function* () {
      const receivedAt = yield* Clock.currentTimeMillis
      const decoded = decodeUdpDatagram(datagram)
      if (Result.isFailure(decoded)) {
        // Debug, not warning: UDP sources are unauthenticated and spoofable, so a flood of junk
        // must not flood the logs; the metric counts it by tag.
        yield* M.countFrame("udp", decoded.failure._tag)
        yield* Effect.logDebug("dropping malformed datagram").pipe(
          Effect.annotateLogs({ error: decoded.failure._tag, detail: decoded.failure.message }),
        )
        return
      }
      const packet = decoded.success
      if (allowlist !== undefined && !allowlist.has(packet.imei)) {
        yield* M.countFrame("udp", "ImeiRejected")
        yield* Effect.logDebug("dropping datagram: IMEI not in GATEWAY_IMEI_ALLOWLIST").pipe(
          Effect.annotateLogs({ imei: packet.imei }),
        )
        return
      }
      const published = yield* publisher.publish(packet.imei, packet.records, "udp", receivedAt).pipe(
        Effect.tap(() =>
          Effect.sync(() =>
            socket.send(packet.ack, peer.port, peer.address, (error) => {
              if (error !== null && error !== undefined) {
                runFork(Effect.logWarning("sending UDP ACK failed", Cause.fail(error)))
              }
            }),
          ),
        ),
        Effect.uninterruptible,
        Effect.result,
      )
      if (Result.isFailure(published)) {
        yield* M.countFrame("udp", "PublishFailed")
        yield* Metric.update(M.publishFailures, 1)
        yield* Effect.logWarning("datagram not stored, no ACK (the device resends)").pipe(
          Effect.annotateLogs({ imei: packet.imei, records: packet.records.length, error: published.failure.reason }),
        )
        return
      }
      const acked = yield* Clock.currentTimeMillis
      yield* M.countFrame("udp", "ok")
      yield* M.countPublished("udp", packet.records.length)
      yield* Metric.update(M.ackLatency, (acked - receivedAt) / 1000)
    }).pipe(
      Effect.catchDefect((defect) => Effect.logError("datagram handling failed unexpectedly", Cause.die(defect))),
      Effect.ensuring(Effect.sync(() => inFlight--)),
      Effect.annotateLogs({ remote: `${peer.address}:${peer.port}` }),
    )

  const onMessage = (datagram: Buffer, peer: Dgram.RemoteInfo) => {
    if (inFlight >= UDP_MAX_IN_FLIGHT) {
      runFork(M.countFrame("udp", "Overloaded"))
      return
    }
    inFlight++
    runFork(handle(datagram, peer))
  }
  const onError = (error: Error) => {
    runFork(Effect.logWarning("UDP socket error", Cause.fail(error)))
  }

  // Released before the fiber set: no new datagram starts once shutdown begins.
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      socket.on("message", onMessage)
      socket.on("error", onError)
    }),
    () =>
      Effect.sync(() => {
        socket.off("message", onMessage)
      }),
  )
  return { port: socket.address().port }
})

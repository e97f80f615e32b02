import { type Effect, Metric } from "effect"
import type { Transport } from "./toEntry.ts"

/**
 * The gateway's series (SPEC §7: "gateway connections and frames by result"). Prometheus naming:
 * `_total` counters, seconds. A series appears in /metrics after its first update.
 */

export const connections = Metric.gauge("telemetry_gateway_connections", {
  description: "Open TCP connections",
})
export const connectionsTotal = Metric.counter("telemetry_gateway_connections_total", {
  description: "TCP connections accepted",
  incremental: true,
})
const connectionsClosed = Metric.counter("telemetry_gateway_connections_closed_total", {
  description:
    "TCP connections ended, by reason (peer_closed, idle_timeout, login_timeout, slow_frame, codec_error, imei_rejected, publish_failed, max_connections, shutdown, internal_error)",
  incremental: true,
})
const frames = Metric.counter("telemetry_gateway_frames_total", {
  description:
    "Frames and datagrams handled, by transport and result: ok, ignored (codec 12–15 messages), a codec error tag, ImeiRejected, PublishFailed, Overloaded",
  incremental: true,
})
const recordsPublished = Metric.counter("telemetry_gateway_records_published_total", {
  description: "AVL records written to the stream (XADD succeeded)",
  incremental: true,
})
export const publishFailures = Metric.counter("telemetry_gateway_publish_failures_total", {
  description: "AVL packets whose XADDs failed or timed out; the device got no ACK",
  incremental: true,
})
export const ackLatency = Metric.histogram("telemetry_gateway_ack_latency_seconds", {
  description: "From receiving an AVL packet to writing its ACK (includes the XADD round trip)",
  boundaries: Metric.exponentialBoundaries({ start: 0.0005, factor: 2, count: 16 }),
})

export type CloseReason =
  | "peer_closed"
  | "idle_timeout"
  | "login_timeout"
  | "slow_frame"
  | "codec_error"
  | "imei_rejected"
  | "publish_failed"
  | "max_connections"
  | "shutdown"
  | "internal_error"

/*
 * Labelled views are cached: results are a small closed set (codec error tags and a few words), and
 * building a labelled metric per frame would allocate on the hot path.
 */
const cache = new Map<string, Metric.Metric<number, unknown>>()
const labelled = (
  base: Metric.Metric<number, unknown>,
  key: string,
  attributes: Record<string, string>,
): Metric.Metric<number, unknown> => {
  let metric = cache.get(key)
  if (metric === undefined) {
    metric = base.pipe(Metric.withAttributes(attributes))
    cache.set(key, metric)
  }
  return metric
}

export const countFrame = (transport: Transport, result: string, n = 1): Effect.Effect<void> =>
  Metric.update(labelled(frames, `f:${transport}:${result}`, { transport, result }), n)

export const countClosed = (reason: CloseReason): Effect.Effect<void> =>
  Metric.update(labelled(connectionsClosed, `c:${reason}`, { reason }), 1)

export const countPublished = (transport: Transport, n: number): Effect.Effect<void> =>
  Metric.update(labelled(recordsPublished, `r:${transport}`, { transport }), n)

/**
 * Slot for issue #6: gateway throughput, "records/s with 1,000 connections". NOT IMPLEMENTED.
 *
 * The intended shape, so that whoever builds it fits the rest of the bench:
 * - servers: a fresh Redis (AOF, everysec) per run, as for the other cases; no PostgreSQL needed.
 * - contender: `node dist/main.js gateway` with REDIS_URL, GATEWAY_TCP_PORT (a free port) and
 *   LOG_LEVEL=warn; a reference gateway (plain `net` server + ioredis) could sit in bench/reference/.
 * - load: 1,000 simulated devices, each its own TCP connection: IMEI login, then Codec 8 Extended
 *   AVL packets (e.g. 10 records each, built from bench/data.ts payloads), waiting for the 4-byte
 *   ACK before the next packet, as real devices do (src/simulator/ or the demo fleet may help).
 * - measure: records acknowledged to devices per second over a fixed window, and XLEN of the
 *   stream = records ACKed (nothing acknowledged that is not in Redis); ACK latency percentiles.
 * - result type: `GatewaySample` below; add it to the table in report.ts and to the JSON.
 */

export interface GatewaySample {
  readonly run: number
  readonly connections: number
  readonly recordsPerSec: number
  readonly ackP50Ms: number
  readonly ackP99Ms: number
}

export const GATEWAY_CASE = {
  name: "gateway",
  implemented: false,
  description: "gateway records/s with 1,000 connections (issue #6)",
} as const

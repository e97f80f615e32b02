import * as Path from "node:path"
import { Effect } from "effect"
import { startRedis } from "../../src/devservers/index.ts"
import { makeFleetMonitor, runFleet } from "../../src/simulator/index.ts"
import { connectRedis, freePort, sleep, spawnProc } from "../infra.ts"
import { fmtInt, status } from "../progress.ts"

/**
 * Gateway throughput (issue #6): `node dist/main.js gateway` on a fresh Redis (AOF everysec), and
 * 1,000 simulated devices (src/simulator), each its own TCP connection speaking Codec 8E/8/16,
 * waiting for the ACK of a packet before the next, as real trackers do. The fleet offers more than
 * the gateway can take; the figure is records ACKed per second over the window, and the stream
 * must hold at least every ACKed record (nothing acknowledged that Redis does not have).
 * The simulated fleet runs in the bench process and shares the two cores with the gateway.
 */

export interface GatewaySample {
  readonly run: number
  readonly connections: number
  readonly recordsPerSec: number
  readonly recordsAcked: number
  readonly streamLength: number
  readonly gatewayCpuUsPerRecord: number
  readonly peakRssBytes: number
}

export interface GatewayOptions {
  readonly run: number
  readonly label: string
  readonly logDir: string
  readonly connections: number
  readonly offeredPerSec: number
  readonly durationS: number
}

export const runGatewayCase = async (o: GatewayOptions): Promise<GatewaySample> => {
  const redis = await startRedis({ appendOnly: true })
  const port = await freePort()
  const httpPort = await freePort()
  const proc = spawnProc(
    ["dist/main.js", "gateway"],
    {
      ...process.env,
      REDIS_URL: redis.url,
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_TCP_PORT: String(port),
      GATEWAY_UDP_PORT: "0",
      HTTP_PORT: String(httpPort),
      LOG_LEVEL: "warn",
    },
    Path.join(o.logDir, `gateway-run${o.run}.log`),
  )
  const client = connectRedis(redis.url)
  try {
    await sleep(1500)
    const monitor = makeFleetMonitor()
    const cpuStart = proc.cpuMs()
    const started = performance.now()
    const ticker = setInterval(() => {
      const s = monitor.stats()
      status(`${o.label}: ${fmtInt(s.connected)} connected, ${fmtInt(s.recordsAcked)} records ACKed`)
    }, 1000)
    const report = await Effect.runPromise(
      runFleet({
        host: "127.0.0.1",
        port,
        devices: o.connections,
        recordsPerSecond: o.offeredPerSec,
        durationMs: o.durationS * 1000,
        maxRecordsPerPacket: 10,
        reconnectProbability: 0,
        monitor,
        seed: o.run,
      }),
    ).finally(() => clearInterval(ticker))
    const seconds = (performance.now() - started) / 1000
    const cpuMs = proc.cpuMs() - cpuStart
    const streamLength = Number(await client.xlen("telemetry:teltonika"))
    if (streamLength < report.recordsAcked) {
      throw new Error(`stream holds ${streamLength} entries but ${report.recordsAcked} records were ACKed`)
    }
    return {
      run: o.run,
      connections: o.connections,
      recordsPerSec: report.recordsAcked / seconds,
      recordsAcked: report.recordsAcked,
      streamLength,
      gatewayCpuUsPerRecord: report.recordsAcked === 0 ? 0 : (cpuMs * 1000) / report.recordsAcked,
      peakRssBytes: proc.peakRss(),
    }
  } finally {
    client.disconnect()
    await proc.stop()
    await redis.destroy()
  }
}

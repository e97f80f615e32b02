import * as Fs from "node:fs"
import { type Contender, type LaunchOptions, launch } from "../contenders.ts"
import type { Dataset } from "../data.ts"
import {
  aofSettled,
  backgroundCpuPct,
  countRows,
  freePort,
  groupState,
  type InsertBackendWaits,
  insertedRowsApprox,
  type Proc,
  preload,
  redisCommandCalls,
  type ServerCpu,
  sampleInsertBackends,
  serverCpuMs,
  sleep,
  walStats,
  withSampleServers,
} from "../infra.ts"
import { fmtInt, mb, status } from "../progress.ts"

export interface DrainSample {
  readonly contender: Contender
  readonly run: number
  readonly entries: number
  readonly rows: number
  readonly expectedRows: number
  /** First read to last acknowledgement, as seen from outside (XINFO GROUPS polled every 10 ms). */
  readonly durationMs: number
  readonly rowsPerSec: number
  readonly entriesPerSec: number
  readonly peakRssBytes: number
  /** CPU time the contender used between first read and last ACK, per row: what it leaves to
   * PostgreSQL and Redis on a small machine. */
  readonly cpuUsPerRow: number
  /** CPU of the PostgreSQL cluster and of redis-server over the same window, per row. */
  readonly postgresCpuUsPerRow: number
  readonly redisCpuUsPerRow: number
  readonly preloadMs: number
  readonly startupMs: number
  readonly exitCode: number | null
  readonly exitSignal: string | null
  readonly stopMs: number
  /** Machine CPU busy just before the contender started, with the bench idle (other people's work). */
  readonly backgroundCpuPct: number
  readonly walBytes: number
  readonly checkpoints: number
  /** Redis commands the contender (and the bench's 10 ms XINFO poll) ran during the drain, by name,
   * with the µs Redis spent on them. */
  readonly redisCalls: Readonly<Record<string, { readonly calls: number; readonly usec: number }>>
  /** What PostgreSQL's insert connections were doing during the drain. */
  readonly insertWaits: InsertBackendWaits
  readonly log: string
}

export interface DrainOptions {
  readonly contender: Contender
  readonly run: number
  readonly label: string
  readonly data: Dataset
  readonly logDir: string
  readonly stateMaxDevices: number
  readonly processorEnv: Readonly<Record<string, string>>
  readonly referenceEnv: Readonly<Record<string, string>>
  readonly cpuProfDir?: string
  /** Fail the run when nothing is acknowledged for this long. */
  readonly stallMs?: number
}

const logTail = (file: string): string => {
  try {
    return Fs.readFileSync(file, "utf8").split("\n").slice(-15).join("\n")
  } catch {
    return "(no log)"
  }
}

export const failedExit = (proc: Proc, what: string) =>
  proc.exited.then(({ code, signal }) => {
    throw new Error(
      `${what} exited early (code ${code}, signal ${signal}); log ${proc.logFile}:\n${logTail(proc.logFile)}`,
    )
  })

/**
 * The stream is filled first (XADD in pipelines of 5,000), then the contender starts and drains
 * it. Done = every entry read by the group, none pending; then the row count must equal the
 * distinct keys. Fresh servers for every call.
 */
export const runDrain = (o: DrainOptions): Promise<DrainSample> =>
  withSampleServers(async ({ servers, producer, observer, track }) => {
    const n = o.data.payloads.length
    status(`${o.label}: XADD ${fmtInt(n)} entries…`)
    const loaded = await preload(producer, o.data)
    await aofSettled(producer)
    const background = await backgroundCpuPct()
    await producer.call("CONFIG", "RESETSTAT")
    const walBefore = await walStats(servers.db)
    const launchOptions: LaunchOptions = {
      servers,
      logDir: o.logDir,
      label: o.label,
      httpPort: await freePort(),
      stateMaxDevices: o.stateMaxDevices,
      processorEnv: o.processorEnv,
      referenceEnv: o.referenceEnv,
      ...(o.cpuProfDir === undefined ? {} : { cpuProfDir: o.cpuProfDir }),
    }
    const waits = sampleInsertBackends(servers.db)
    const spawnedAt = performance.now()
    const running = launch(o.contender, launchOptions)
    track(running)
    let dead: Error | undefined
    failedExit(running, o.contender).catch((error: Error) => {
      dead = error
    })

    let firstReadAt: number | undefined
    let cpuAtFirstRead = 0
    let serversAtFirstRead: ServerCpu = { postgresMs: 0, redisMs: 0 }
    let doneAt: number | undefined
    let lastTick = performance.now()
    let lastAcked = 0
    let lastAckChange = performance.now()
    const stallMs = o.stallMs ?? 120_000
    while (doneAt === undefined) {
      if (dead !== undefined) throw dead
      const s = await groupState(observer)
      const now = performance.now()
      const acked = s.entriesRead - s.pending
      if (firstReadAt === undefined && s.exists && s.entriesRead > 0) {
        firstReadAt = now
        cpuAtFirstRead = running.cpuMs()
        serversAtFirstRead = serverCpuMs(servers)
      }
      if (s.exists && s.entriesRead >= n && s.pending === 0) {
        doneAt = now
        break
      }
      if (acked !== lastAcked) lastAckChange = now
      if (now - lastAckChange > stallMs) {
        throw new Error(
          `${o.label}: no acknowledgement for ${stallMs / 1000} s (acked ${acked}/${n}); log ${running.logFile}`,
        )
      }
      if (now - lastTick >= 1000) {
        const rows = await insertedRowsApprox(servers.db)
        const rate = ((acked - lastAcked) * 1000) / (now - lastTick)
        const elapsed = firstReadAt === undefined ? 0 : (now - firstReadAt) / 1000
        status(
          `${o.label}: ${elapsed.toFixed(1)} s  acked ${fmtInt(acked)}/${fmtInt(n)}  ${fmtInt(rate)}/s  rows≈${fmtInt(rows)}  lag ${s.lag ?? "?"}  pending ${s.pending}  rss ${mb(running.peakRss()).toFixed(0)} MB`,
        )
        lastTick = now
        lastAcked = acked
      }
      await sleep(10)
    }
    const started = firstReadAt ?? doneAt
    const durationMs = doneAt - started
    const cpuMs = running.cpuMs() - cpuAtFirstRead
    const serversAtDone = serverCpuMs(servers)
    const peakRssBytes = running.peakRss()
    const insertWaits = await waits.stop()
    const redisCalls = await redisCommandCalls(observer)
    const walAfter = await walStats(servers.db)
    const rows = await countRows(servers.db)
    const stopped = await running.stop()
    if (rows !== o.data.distinctKeys) {
      throw new Error(
        `${o.label}: ${rows} rows after the drain, expected ${o.data.distinctKeys}; log ${running.logFile}`,
      )
    }
    return {
      contender: o.contender,
      run: o.run,
      entries: n,
      rows,
      expectedRows: o.data.distinctKeys,
      durationMs,
      rowsPerSec: (rows * 1000) / durationMs,
      entriesPerSec: (n * 1000) / durationMs,
      peakRssBytes,
      cpuUsPerRow: (cpuMs * 1000) / rows,
      postgresCpuUsPerRow: ((serversAtDone.postgresMs - serversAtFirstRead.postgresMs) * 1000) / rows,
      redisCpuUsPerRow: ((serversAtDone.redisMs - serversAtFirstRead.redisMs) * 1000) / rows,
      preloadMs: loaded.ms,
      startupMs: started - spawnedAt,
      exitCode: stopped.code,
      exitSignal: stopped.signal,
      stopMs: stopped.ms,
      backgroundCpuPct: background,
      walBytes: walAfter.lsnBytes - walBefore.lsnBytes,
      checkpoints: walAfter.checkpoints - walBefore.checkpoints,
      redisCalls,
      insertWaits,
      log: running.logFile,
    }
  })

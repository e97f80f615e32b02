import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Readline from "node:readline"
import type { Dataset } from "../data.ts"
import {
  backgroundCpuPct,
  countRows,
  fileSafe,
  freshServers,
  type InsertBackendWaits,
  processCpuMs,
  ROOT,
  sampleInsertBackends,
  serverCpuMs,
  walStats,
} from "../infra.ts"
import { fmtInt, status } from "../progress.ts"

export interface CeilingSample {
  readonly run: number
  readonly entries: number
  readonly rows: number
  readonly expectedRows: number
  readonly durationMs: number
  readonly rowsPerSec: number
  readonly connections: number
  readonly batch: number
  readonly backgroundCpuPct: number
  /** CPU of the inserting process and of the PostgreSQL cluster from the first insert to the last, per row. */
  readonly cpuUsPerRow: number
  readonly postgresCpuUsPerRow: number
  readonly walBytes: number
  readonly checkpoints: number
  /** What PostgreSQL's insert connections were doing while the ceiling inserted. */
  readonly insertWaits: InsertBackendWaits
}

export interface CeilingOptions {
  readonly run: number
  readonly label: string
  readonly data: Dataset
  readonly logDir: string
  readonly connections: number
  readonly batch: number
}

interface Message {
  readonly type: "ready" | "progress" | "done"
  readonly written?: number
  readonly inserted?: number
  readonly elapsedMs?: number
  readonly durationMs?: number
}

/** The same rows, the same statement and driver, 2 connections, no Redis (bench/ceiling/main.ts,
 * in its own process so that it pays for its own work only). Fresh PostgreSQL for every call. */
export const runCeiling = async (o: CeilingOptions): Promise<CeilingSample> => {
  const servers = await freshServers({ redis: false })
  try {
    const background = await backgroundCpuPct()
    const walBefore = await walStats(servers.db)
    status(`${o.label}: building rows…`)
    const waits = sampleInsertBackends(servers.db)
    const logFile = Path.join(o.logDir, `${fileSafe(o.label)}.log`)
    const log = Fs.openSync(logFile, "a")
    const child = ChildProcess.spawn(process.execPath, ["bench/ceiling/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        POSTGRES_URL: servers.pg.url,
        BENCH_DATA: JSON.stringify(o.data.spec),
        CEILING_CONNECTIONS: String(o.connections),
        CEILING_BATCH: String(o.batch),
      },
      stdio: ["ignore", "pipe", log],
    })
    Fs.closeSync(log)
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    let done: Message | undefined
    let cpuAtReady = { client: 0, postgres: 0 }
    let cpuAtDone = { client: 0, postgres: 0 }
    const cpuNow = () => ({ client: processCpuMs(child.pid ?? -1), postgres: serverCpuMs(servers).postgresMs })
    let insertWaits: InsertBackendWaits | undefined
    let last = { written: 0, at: 0 }
    const stdout = child.stdout
    if (stdout === null) throw new Error("ceiling: no stdout")
    for await (const line of Readline.createInterface({ input: stdout })) {
      let message: Message
      try {
        message = JSON.parse(line) as Message
      } catch {
        continue
      }
      if (message.type === "progress") {
        const written = message.written ?? 0
        const at = message.elapsedMs ?? 0
        const rate = at > last.at ? ((written - last.written) * 1000) / (at - last.at) : 0
        status(
          `${o.label}: ${(at / 1000).toFixed(1)} s  written ${fmtInt(written)}/${fmtInt(o.data.payloads.length)}  ${fmtInt(rate)} rows/s`,
        )
        last = { written, at }
      }
      if (message.type === "ready") cpuAtReady = cpuNow()
      if (message.type === "done") {
        done = message
        cpuAtDone = cpuNow()
        insertWaits = await waits.stop()
      }
    }
    const code = await exited
    if (done === undefined || insertWaits === undefined || code !== 0) {
      throw new Error(`${o.label}: ceiling exited ${code}; log ${logFile}`)
    }
    const walAfter = await walStats(servers.db)
    const rows = await countRows(servers.db)
    if (rows !== o.data.distinctKeys) throw new Error(`${o.label}: ${rows} rows, expected ${o.data.distinctKeys}`)
    const durationMs = done.durationMs ?? Number.NaN
    return {
      run: o.run,
      entries: o.data.payloads.length,
      rows,
      expectedRows: o.data.distinctKeys,
      durationMs,
      rowsPerSec: (rows * 1000) / durationMs,
      connections: o.connections,
      batch: o.batch,
      backgroundCpuPct: background,
      cpuUsPerRow: ((cpuAtDone.client - cpuAtReady.client) * 1000) / rows,
      postgresCpuUsPerRow: ((cpuAtDone.postgres - cpuAtReady.postgres) * 1000) / rows,
      walBytes: walAfter.lsnBytes - walBefore.lsnBytes,
      checkpoints: walAfter.checkpoints - walBefore.checkpoints,
      insertWaits,
    }
  } finally {
    await servers.destroy()
  }
}

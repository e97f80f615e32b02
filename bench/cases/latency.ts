import { type Contender, launch } from "../contenders.ts"
import { type Dataset, SOURCE } from "../data.ts"
import {
  backgroundCpuPct,
  countRows,
  freePort,
  groupState,
  redisCommandCalls,
  STREAM,
  sleep,
  withSampleServers,
} from "../infra.ts"
import { fmtInt, mb, status } from "../progress.ts"
import { failedExit } from "./drain.ts"

export interface LatencySample {
  readonly contender: Contender
  readonly run: number
  /** Offered load asked for and achieved over the measured window. */
  readonly targetRate: number
  readonly offeredRate: number
  readonly measuredEntries: number
  /** Rows of the measured window the percentiles are over (re-sends are not rows). */
  readonly rows: number
  /** XADD → the commit of the row's transaction (PostgreSQL's commit timestamp). */
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly meanMs: number
  /** XADD → the start of the row's transaction (`inserted_at`): what sessions 1–6 reported. */
  readonly startP50Ms: number
  readonly startP99Ms: number
  /** After the producer stopped: time until the group had nothing left to read or acknowledge. */
  readonly catchUpMs: number
  readonly peakRssBytes: number
  /** The contender's CPU over the whole load (warm-up included), per entry offered. */
  readonly cpuUsPerEntry: number
  /** Entries per XREADGROUP, on average: the per-batch work is spread over this many entries. */
  readonly entriesPerRead: number
  readonly exitCode: number | null
  readonly backgroundCpuPct: number
  readonly log: string
}

export interface LatencyOptions {
  readonly contender: Contender
  readonly run: number
  readonly label: string
  /** Warm-up entries first, then the measured ones; paced at `rate` per second throughout. */
  readonly data: Dataset
  readonly warmupEntries: number
  readonly rate: number
  readonly logDir: string
  readonly stateMaxDevices: number
  readonly processorEnv: Readonly<Record<string, string>>
  readonly referenceEnv: Readonly<Record<string, string>>
}

interface Percentiles {
  readonly n: number
  readonly p50: number | null
  readonly p90: number | null
  readonly p99: number | null
  readonly max: number | null
  readonly mean: number | null
}

type CompletePercentiles = { readonly [K in keyof Percentiles]: number }

/** PostgreSQL records when each transaction committed, for COMMITTED_AT. */
const LATENCY_POSTGRES_SETTINGS = { track_commit_timestamp: "on" }

/** When the row's transaction committed (needs `track_commit_timestamp`), and when it started. */
const COMMITTED_AT = "pg_xact_commit_timestamp(xmin)"
const TRANSACTION_STARTED_AT = "inserted_at"

/** Percentiles of (`until` − the ms part of the stream id) over the rows from stream id ($1, $2) on. */
const percentilesSql = (until: string) => `
  WITH l AS (
    SELECT extract(epoch FROM ${until}) * 1000 - split_part(stream_id, '-', 1)::float8 AS ms
    FROM positions
    WHERE (split_part(stream_id, '-', 1)::bigint, split_part(stream_id, '-', 2)::bigint) >= ($1::bigint, $2::bigint)
  )
  SELECT count(*)::float8 AS n,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
         percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
         percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
         max(ms)::float8 AS max,
         avg(ms)::float8 AS mean
  FROM l`

const splitId = (id: string): [number, number] => {
  const [ms, seq] = id.split("-")
  return [Number(ms), Number(seq ?? "0")]
}

/**
 * A steady offered load: XADD at `rate` entries/s (a pipeline every ~1 ms with what is owed,
 * `received_at` = now), against a running contender. Latency per row = when its transaction
 * committed (`track_commit_timestamp`) − the ms part of its stream id (when Redis took the XADD), in
 * SQL with percentile_cont, over the rows whose stream id is at or after the first measured entry.
 * Also measured to the transaction's start (`inserted_at`), which leaves out the insert and the
 * commit: the figure reported before the commit time was.
 */
export const runLatency = (o: LatencyOptions): Promise<LatencySample> =>
  withSampleServers(async ({ servers, producer, observer, track }) => {
    const background = await backgroundCpuPct()
    const running = launch(o.contender, {
      servers,
      logDir: o.logDir,
      label: o.label,
      httpPort: await freePort(),
      stateMaxDevices: o.stateMaxDevices,
      processorEnv: o.processorEnv,
      referenceEnv: o.referenceEnv,
    })
    track(running)
    let dead: Error | undefined
    failedExit(running, o.contender).catch((error: Error) => {
      dead = error
    })
    // Ready = the contender created its group (and is reading, or about to).
    const readyBy = performance.now() + 60_000
    for (;;) {
      if (dead !== undefined) throw dead
      if ((await groupState(observer)).exists) break
      if (performance.now() > readyBy) throw new Error(`${o.label}: consumer group not created within 60 s`)
      await sleep(50)
    }
    await sleep(1_000)

    const total = o.data.payloads.length
    const cpuAtStart = running.cpuMs()
    const readsAtStart = (await redisCommandCalls(observer)).xreadgroup?.calls ?? 0
    let sent = 0
    let firstMeasuredId: string | undefined
    let measuredStartedAt = 0
    let measuredEndedAt = 0
    const started = performance.now()
    let lastTick = started
    let lastAcked = 0
    let lastSent = 0
    while (sent < total) {
      if (dead !== undefined) throw dead
      const now = performance.now()
      const due = Math.min(total, Math.floor(((now - started) * o.rate) / 1000))
      if (due > sent) {
        const batch = producer.pipeline()
        const receivedAt = String(Date.now())
        for (let i = sent; i < due; i++) {
          batch.xadd(STREAM, "*", "payload", o.data.payloads[i] as string, "received_at", receivedAt, "source", SOURCE)
        }
        const replies = (await batch.exec()) ?? []
        for (let i = sent; i < due; i++) {
          const [error, id] = replies[i - sent] ?? [new Error("no reply"), null]
          if (error !== null) throw error
          if (i === o.warmupEntries) {
            firstMeasuredId = String(id)
            measuredStartedAt = now
          }
        }
        sent = due
        if (sent === total) measuredEndedAt = performance.now()
      }
      if (now - lastTick >= 1000) {
        const s = await groupState(observer)
        const acked = s.entriesRead - s.pending
        const phase = sent <= o.warmupEntries ? "warm-up" : "measured"
        status(
          `${o.label}: ${phase} ${((now - started) / 1000).toFixed(1)} s  offered ${fmtInt(((sent - lastSent) * 1000) / (now - lastTick))}/s  acked ${fmtInt(((acked - lastAcked) * 1000) / (now - lastTick))}/s  lag ${s.lag ?? "?"}  pending ${s.pending}  rss ${mb(running.peakRss()).toFixed(0)} MB`,
        )
        lastTick = now
        lastAcked = acked
        lastSent = sent
      }
      await sleep(1)
    }
    if (firstMeasuredId === undefined) throw new Error(`${o.label}: no measured entries (warm-up covers all)`)

    const producedAt = performance.now()
    const catchUpBy = producedAt + 120_000
    for (;;) {
      if (dead !== undefined) throw dead
      const s = await groupState(observer)
      if (s.entriesRead >= total && s.pending === 0) break
      if (performance.now() > catchUpBy) throw new Error(`${o.label}: not caught up 120 s after the load stopped`)
      await sleep(10)
    }
    const catchUpMs = performance.now() - producedAt
    const peakRssBytes = running.peakRss()
    const cpuMs = running.cpuMs() - cpuAtStart
    const reads = ((await redisCommandCalls(observer)).xreadgroup?.calls ?? 0) - readsAtStart
    const stopped = await running.stop()

    const rowsTotal = await countRows(servers.db)
    if (rowsTotal !== o.data.distinctKeys) {
      throw new Error(`${o.label}: ${rowsTotal} rows, expected ${o.data.distinctKeys}; log ${running.logFile}`)
    }
    const [fromMs, fromSeq] = splitId(firstMeasuredId)
    const percentiles = async (until: string): Promise<CompletePercentiles> => {
      const [p] = await servers.db.query((sql) => sql.unsafe<Percentiles>(percentilesSql(until), [fromMs, fromSeq]))
      if (p === undefined || p.p50 === null || p.p90 === null || p.p99 === null || p.max === null || p.mean === null) {
        throw new Error(`${o.label}: no rows in the measured window`)
      }
      return { n: p.n, p50: p.p50, p90: p.p90, p99: p.p99, max: p.max, mean: p.mean }
    }
    const p = await percentiles(COMMITTED_AT)
    const start = await percentiles(TRANSACTION_STARTED_AT)
    const measuredEntries = total - o.warmupEntries
    return {
      contender: o.contender,
      run: o.run,
      targetRate: o.rate,
      offeredRate: (measuredEntries * 1000) / Math.max(1, measuredEndedAt - measuredStartedAt),
      measuredEntries,
      rows: p.n,
      p50Ms: p.p50,
      p90Ms: p.p90,
      p99Ms: p.p99,
      maxMs: p.max,
      meanMs: p.mean,
      startP50Ms: start.p50,
      startP99Ms: start.p99,
      catchUpMs,
      peakRssBytes,
      cpuUsPerEntry: (cpuMs * 1000) / total,
      entriesPerRead: total / Math.max(1, reads),
      exitCode: stopped.code,
      backgroundCpuPct: background,
      log: running.logFile,
    }
  }, LATENCY_POSTGRES_SETTINGS)

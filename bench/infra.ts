import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as PgClient from "@effect/sql-pg/PgClient"
import { type Effect, ManagedRuntime, Redacted } from "effect"
import type { SqlClient } from "effect/sql"
import { Redis } from "ioredis"
import {
  freePort,
  type PostgresServer,
  type RedisServer,
  run,
  startPostgres,
  startRedis,
} from "../src/devservers/index.ts"
import { type Dataset, SOURCE } from "./data.ts"

/** Where the bench lives and where the processor's build is. */
export const ROOT = Path.resolve(import.meta.dirname, "..")
export const STREAM = "telemetry:teltonika"
export const GROUP = "processor"
export const CONSUMER = "bench-1"

/** A label as a file name: `drain processor run 1/3` → `drain-processor-run-1-3`. */
export const fileSafe = (label: string): string => label.replace(/[^A-Za-z0-9_.-]+/g, "-")

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs a command to completion in the repository root: its stdout; rejects with its output on failure. */
export const exec = async (command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  (await run(command, args, { cwd: ROOT, env })).stdout

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

export interface Db {
  readonly url: string
  readonly query: <A extends object>(
    run: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>,
  ) => Promise<ReadonlyArray<A>>
  readonly close: () => Promise<void>
}

export const connectDb = async (url: string): Promise<Db> => {
  const runtime = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
  const sql = await runtime.runPromise(PgClient.PgClient)
  return {
    url,
    query: (run) => runtime.runPromise(run(sql)),
    close: () => runtime.dispose(),
  }
}

export const countRows = async (db: Db): Promise<number> => {
  const rows = await db.query((sql) => sql<{ readonly n: number }>`SELECT count(*)::float8 AS n FROM positions`)
  return rows[0]?.n ?? 0
}

/** Rows inserted into `positions` per the statistics collector: cheap, but flushed by backends only
 * about once a second, so it trails the truth by up to a second. For progress lines only. */
export const insertedRowsApprox = async (db: Db): Promise<number> => {
  const rows = await db.query(
    (sql) =>
      sql<{
        readonly n: number
      }>`SELECT coalesce(sum(n_tup_ins), 0)::float8 AS n FROM pg_stat_user_tables WHERE relname = 'positions'`,
  )
  return rows[0]?.n ?? 0
}

// ---------------------------------------------------------------------------------------------
// Servers: fresh per contender per run, durable like the production compose file
// ---------------------------------------------------------------------------------------------

export interface Servers {
  readonly pg: PostgresServer
  readonly redis: RedisServer | undefined
  readonly db: Db
  readonly destroy: () => Promise<void>
}

/** A fresh PostgreSQL (fsync on) with the migrations applied by `node dist/main.js migrate`, and
 * (unless `redis: false`) a fresh Redis with AOF, appendfsync everysec, noeviction. */
export const freshServers = async (options: {
  readonly redis: boolean
  readonly postgresSettings?: Readonly<Record<string, string>>
}): Promise<Servers> => {
  const pg = await startPostgres({
    fsync: true,
    ...(options.postgresSettings ? { settings: options.postgresSettings } : {}),
  })
  let redis: RedisServer | undefined
  // On the error path only: the error that brought us here is the one to report, not a second
  // failure to stop a server that may never have started.
  const kill = async () => {
    await Promise.all([pg.destroy(), redis?.destroy()]).catch(() => undefined)
  }
  live.add(kill)
  try {
    redis = options.redis ? await startRedis({ appendOnly: true }) : undefined
    await exec(process.execPath, ["dist/main.js", "migrate"], {
      ...process.env,
      POSTGRES_URL: pg.url,
      LOG_LEVEL: "warn",
    })
    const db = await connectDb(pg.url)
    // Start every run from a clean WAL position: a checkpoint falls at the same point in each run.
    await db.query((sql) => sql`CHECKPOINT`)
    return {
      pg,
      redis,
      db,
      destroy: async () => {
        live.delete(kill)
        // The servers are destroyed next either way; a client that cannot close cleanly is moot.
        await db.close().catch(() => undefined)
        await Promise.all([pg.destroy(), redis?.destroy()])
      },
    }
  } catch (error) {
    live.delete(kill)
    await kill()
    throw error
  }
}

/** Servers not yet destroyed, for an interrupted bench to clean up (pg_ctl daemonises PostgreSQL,
 * so it would outlive the bench otherwise). */
const live = new Set<() => Promise<void>>()

export const destroyAllServers = async (): Promise<void> => {
  for (const child of liveChildren) child.kill("SIGKILL")
  await Promise.all([...live].map((kill) => kill()))
  live.clear()
}

export const serverVersions = async (): Promise<{ readonly postgres: string; readonly redis: string }> => {
  const redis = await exec("redis-server", ["--version"]).catch((e: unknown) => String(e))
  const pgRoot = "/usr/lib/postgresql"
  const versions = Fs.existsSync(pgRoot) ? Fs.readdirSync(pgRoot).sort((a, b) => Number(b) - Number(a)) : []
  const postgres =
    versions[0] === undefined
      ? "?"
      : await exec(Path.join(pgRoot, versions[0], "bin", "postgres"), ["--version"]).catch((e: unknown) => String(e))
  return { postgres: postgres.trim(), redis: redis.trim() }
}

export interface WalStats {
  readonly lsnBytes: number
  readonly checkpoints: number
}

/** WAL position and checkpoints so far: their difference over a sample explains many outliers. */
export const walStats = async (db: Db): Promise<WalStats> => {
  const rows = await db.query(
    (sql) => sql<{ readonly lsn: number; readonly checkpoints: number }>`
      SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS lsn,
             (checkpoints_timed + checkpoints_req)::float8 AS checkpoints
      FROM pg_stat_bgwriter`,
  )
  return { lsnBytes: rows[0]?.lsn ?? 0, checkpoints: rows[0]?.checkpoints ?? 0 }
}

/** What the connections running the positions insert were doing, as shares of samples (one
 * sample per connection every 50 ms). `client`: waiting for the contender to send the next
 * statement (or the rest of this one); `lock`: waiting on another transaction (an ON CONFLICT
 * check on a key the other connection inserted and has not committed); `io`: WAL and data file I/O
 * and the internal locks around them; `cpu`: running, or ready to run and waiting for a core. */
export interface InsertBackendWaits {
  readonly samples: number
  readonly cpu: number
  readonly client: number
  readonly lock: number
  readonly io: number
  readonly other: number
}

type WaitKind = Exclude<keyof InsertBackendWaits, "samples">

/**
 * Samples pg_stat_activity on `db` (a sample's own connection, which the query leaves out) until
 * `stop`. A failed sample ends the sampling and `stop` reports it. A sampler not stopped (the sample
 * failed first) ends with the sample's servers: its next query fails.
 */
export const sampleInsertBackends = (db: Db): { readonly stop: () => Promise<InsertBackendWaits> } => {
  const counts: Record<WaitKind, number> = { cpu: 0, client: 0, lock: 0, io: 0, other: 0 }
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const rows = await db.query(
        (sql) => sql<{ readonly kind: WaitKind }>`
          SELECT CASE
                   WHEN wait_event IS NULL THEN 'cpu'
                   WHEN wait_event IN ('ClientRead', 'ClientWrite') THEN 'client'
                   WHEN wait_event_type = 'Lock' THEN 'lock'
                   WHEN wait_event_type IN ('IO', 'LWLock') THEN 'io'
                   ELSE 'other'
                 END AS kind
          FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
            AND ltrim(query, E' \n') LIKE 'INSERT INTO positions%'`,
      )
      for (const row of rows) counts[row.kind]++
      await sleep(50)
    }
  })().then(
    () => undefined,
    (error: unknown) => error,
  )
  return {
    stop: async () => {
      stopped = true
      const failure = await loop
      if (failure !== undefined) throw failure
      const samples = counts.cpu + counts.client + counts.lock + counts.io + counts.other
      const share = (n: number) => (samples === 0 ? Number.NaN : n / samples)
      return {
        samples,
        cpu: share(counts.cpu),
        client: share(counts.client),
        lock: share(counts.lock),
        io: share(counts.io),
        other: share(counts.other),
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

const cpuTimes = (): { busy: number; total: number } => {
  const line = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
  const fields = line.trim().split(/\s+/).slice(1).map(Number)
  const total = fields.reduce((a, b) => a + b, 0)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  return { busy: total - idle, total }
}

/** Share of all cores busy over `ms`, while the bench itself is idle: other work on the machine
 * (someone's test suite) that the next sample will compete with. */
export const backgroundCpuPct = async (ms = 500): Promise<number> => {
  const a = cpuTimes()
  await sleep(ms)
  const b = cpuTimes()
  return b.total === a.total ? 0 : (100 * (b.busy - a.busy)) / (b.total - a.total)
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

export const connectRedis = (url: string) => new Redis(url, { maxRetriesPerRequest: 2 })

/** One sample's servers: fresh PostgreSQL and Redis, with a producer and an observer connection.
 * The body registers the contender it starts with `track`, so that it is stopped whatever
 * happens; everything is torn down at the end. */
export const withSampleServers = async <A>(
  body: (sample: {
    readonly servers: Servers
    readonly producer: Redis
    readonly observer: Redis
    readonly track: (proc: Proc) => void
  }) => Promise<A>,
  postgresSettings?: Readonly<Record<string, string>>,
): Promise<A> => {
  const servers = await freshServers({ redis: true, ...(postgresSettings ? { postgresSettings } : {}) })
  const redisUrl = servers.redis?.url ?? ""
  const producer = connectRedis(redisUrl)
  const observer = connectRedis(redisUrl)
  let proc: Proc | undefined
  try {
    return await body({
      servers,
      producer,
      observer,
      track: (started) => {
        proc = started
      },
    })
  } finally {
    // Idempotent: a contender the body already stopped is left as it is.
    await proc?.stop(5_000)
    producer.disconnect()
    observer.disconnect()
    await servers.destroy()
  }
}

/** XADDs entries [from, to) of the dataset in one pipeline, as the gateway writes them. */
export const xaddEntries = async (redis: Redis, data: Dataset, from: number, to: number): Promise<void> => {
  const batch = redis.pipeline()
  for (let i = from; i < to; i++) {
    batch.xadd(
      STREAM,
      "*",
      "payload",
      data.payloads[i] as string,
      "received_at",
      String(data.receivedAtMs[i]),
      "source",
      SOURCE,
    )
  }
  const replies = await batch.exec()
  for (const [error] of replies ?? []) if (error !== null) throw error
}

/** XADDs the dataset in pipelines of `pipeline` commands. */
export const preload = async (redis: Redis, data: Dataset, pipeline = 5_000): Promise<{ readonly ms: number }> => {
  const started = performance.now()
  const n = data.payloads.length
  for (let from = 0; from < n; from += pipeline) await xaddEntries(redis, data, from, Math.min(from + pipeline, n))
  return { ms: performance.now() - started }
}

/** Waits for a background AOF rewrite (the preload triggers one) to finish, so that it does not
 * compete with the contender for CPU and disk. */
export const aofSettled = async (redis: Redis, timeoutMs = 60_000): Promise<void> => {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const info = String(await redis.call("INFO", "persistence"))
    const busy = /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1|rdb_bgsave_in_progress:1/.test(info)
    if (!busy || performance.now() > deadline) return
    await sleep(50)
  }
}

export interface GroupState {
  readonly exists: boolean
  readonly entriesRead: number
  readonly lag: number | null
  readonly pending: number
}

const flat = (reply: unknown): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1]
  return out
}

/** XINFO GROUPS for the processor group: entries-read, lag and pending, as the outside sees them. */
export const groupState = async (redis: Redis): Promise<GroupState> => {
  let reply: unknown
  try {
    reply = await redis.call("XINFO", "GROUPS", STREAM)
  } catch (error) {
    if (String(error).includes("no such key")) return { exists: false, entriesRead: 0, lag: null, pending: 0 }
    throw error
  }
  for (const raw of Array.isArray(reply) ? (reply as Array<unknown>) : []) {
    const info = flat(raw)
    if (info.name !== GROUP) continue
    return {
      exists: true,
      entriesRead: typeof info["entries-read"] === "number" ? info["entries-read"] : 0,
      lag: typeof info.lag === "number" ? info.lag : null,
      pending: typeof info.pending === "number" ? info.pending : 0,
    }
  }
  return { exists: false, entriesRead: 0, lag: null, pending: 0 }
}

/** Redis commands run since the last `CONFIG RESETSTAT`, by name (lower case), from INFO commandstats:
 * calls and total µs of Redis CPU, to see what a contender costs Redis per entry. */
export const redisCommandCalls = async (
  redis: Redis,
): Promise<Record<string, { readonly calls: number; readonly usec: number }>> => {
  const info = String(await redis.call("INFO", "commandstats"))
  const stats: Record<string, { calls: number; usec: number }> = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    const [, name, calls, usec] = match
    if (name !== undefined) stats[name] = { calls: Number(calls), usec: Number(usec) }
  }
  return stats
}

// ---------------------------------------------------------------------------------------------
// Contender processes
// ---------------------------------------------------------------------------------------------

export interface Proc {
  readonly pid: number
  readonly logFile: string
  /** Resolves when the process exits by itself (it should not, before `stop`). */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null }>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  readonly stop: (
    graceMs?: number,
  ) => Promise<{ readonly code: number | null; readonly signal: string | null; readonly ms: number }>
  /** Peak resident set so far: max of the kernel's VmHWM and the sampled VmRSS, in bytes. */
  readonly peakRss: () => number
  /** CPU time (user + system) the process has used so far, in ms. */
  readonly cpuMs: () => number
}

const liveChildren = new Set<ChildProcess.ChildProcess>()

const statusKb = (pid: number, field: string): number | undefined => {
  try {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** utime + stime of a process from /proc/<pid>/stat, in ms (clock ticks of 10 ms, USER_HZ = 100). */
export const processCpuMs = (pid: number): number => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(rest[11]) + Number(rest[12])) * 10
  } catch {
    return Number.NaN
  }
}

const statFields = (pid: number): Array<string> | undefined => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** CPU of a server: the process, its reaped children (cutime/cstime: exited backends, AOF rewrite
 * forks) and its live children (PostgreSQL backends), in ms. */
const treeCpuMs = (pid: number): number => {
  const own = statFields(pid)
  if (own === undefined) return Number.NaN
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])
  let children: Array<string> = []
  try {
    children = Fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)
  } catch {
    children = []
  }
  for (const child of children) {
    const f = statFields(Number(child))
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks * 10
}

const redisPid = (port: number): number | undefined => {
  for (const entry of Fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = Fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ")
      if (cmd.startsWith("redis-server") && (cmd.includes(`:${port} `) || cmd.includes(`--port ${port} `))) {
        return Number(entry)
      }
    } catch {
      // The process exited between readdir and this read: it is not the server we look for.
    }
  }
  return undefined
}

export interface ServerCpu {
  readonly postgresMs: number
  readonly redisMs: number
}

/** CPU used so far by the PostgreSQL cluster (postmaster and backends) and redis-server. */
export const serverCpuMs = (servers: Servers): ServerCpu => {
  let postgresMs = Number.NaN
  try {
    const pid = Number(Fs.readFileSync(Path.join(servers.pg.dataDir, "postmaster.pid"), "utf8").split("\n")[0])
    postgresMs = treeCpuMs(pid)
  } catch {
    // No postmaster.pid (the server is gone): the CPU is unknown, NaN, which the table shows as "–".
  }
  const rpid = servers.redis === undefined ? undefined : redisPid(servers.redis.port)
  return { postgresMs, redisMs: rpid === undefined ? 0 : treeCpuMs(rpid) }
}

/** Starts a contender with stdout/stderr to a log file, sampling its RSS every 200 ms. */
export const spawnProc = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, logFile: string): Proc => {
  const log = Fs.openSync(logFile, "a")
  const child = ChildProcess.spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["ignore", log, log] })
  Fs.closeSync(log)
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${args.join(" ")}`)
  liveChildren.add(child)
  let peak = 0
  const sample = () => {
    const rss = statusKb(pid, "VmRSS")
    if (rss !== undefined && rss > peak) peak = rss
  }
  const sampler = setInterval(sample, 200)
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      liveChildren.delete(child)
      clearInterval(sampler)
      resolve({ code, signal })
    }),
  )
  const peakRss = () => {
    sample()
    const hwm = statusKb(pid, "VmHWM")
    return Math.max(peak, hwm ?? 0)
  }
  const stop = async (graceMs = 30_000) => {
    const started = performance.now()
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      const result = await exited
      clearTimeout(timer)
      return { ...result, ms: performance.now() - started }
    }
    return { ...(await exited), ms: 0 }
  }
  return { pid, logFile, exited, stop, peakRss, cpuMs: () => processCpuMs(pid) }
}

export { freePort }

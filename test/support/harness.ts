import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Redis } from "ioredis"
import { type PostgresServer, type RedisServer, run, startPostgres, startRedis } from "../../src/devservers/index.ts"
import { entryFields, random, validPayload } from "./entries.ts"

/**
 * Real processes for the fault-injection suite: servers of their own (the cases stop and restart
 * them), processors as child processes started the way users start them, a load generator that
 * keeps an exact ledger of what it sent, and the checks that nothing was lost or duplicated.
 */

const root = Path.resolve(fileURLToPath(new URL("../..", import.meta.url)))
export const STREAM = "telemetry:teltonika"
export const GROUP = "processor"
export const DLQ = `${STREAM}:dlq`

export interface Servers {
  readonly pg: PostgresServer
  readonly redis: RedisServer
  readonly client: Redis
  readonly sql: (query: string) => Promise<Array<Record<string, unknown>>>
  readonly close: () => Promise<void>
}

export const startServers = async (): Promise<Servers> => {
  const [pg, redis] = await Promise.all([startPostgres({ fsync: false }), startRedis({ appendOnly: true })])
  // Commands wait through a Redis restart; one whose reply the restart swallowed may be sent again
  // (by ioredis or by the load generator), which the verdict allows for by counting stream copies.
  const client = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 100 })
  client.on("error", () => {})
  const sql = async (query: string) => {
    const out = await runPsql(pg, query)
    return out
  }
  return {
    pg,
    redis,
    client,
    sql,
    close: async () => {
      client.disconnect()
      await Promise.all([pg.destroy(), redis.destroy()])
    },
  }
}

/** psql with JSON output: the harness checks the database the way an operator would. */
const runPsql = async (pg: PostgresServer, query: string) => {
  const wrapped = `SELECT coalesce(json_agg(t), '[]'::json) FROM (${query}) t`
  const { stdout } = await run("psql", ["-X", "-q", "-t", "-A", "-d", pg.url, "-c", wrapped])
  return JSON.parse(stdout.trim() || "[]") as Array<Record<string, unknown>>
}

export interface ProcessorProcess {
  readonly name: string
  readonly child: ChildProcess.ChildProcess
  readonly logs: Array<string>
  readonly exited: Promise<number | null>
}

/** Every processor a case started, so a failing case still leaves none running. */
const spawned = new Set<ChildProcess.ChildProcess>()

export const killAllProcessors = () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  spawned.clear()
}

export const spawnProcessor = (servers: Servers, name: string, env: Record<string, string> = {}): ProcessorProcess => {
  const child = ChildProcess.spawn(process.execPath, [Path.join(root, "src/main.ts"), "processor"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: servers.redis.url,
      POSTGRES_URL: servers.pg.url,
      REDIS_CONSUMER_NAME: name,
      HTTP_PORT: "0",
      READ_BLOCK_MS: "200",
      CLAIM_THRESHOLD_MS: "3000",
      CLAIM_INTERVAL_MS: "1000",
      DRAIN_TIMEOUT_MS: "20000",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  })
  spawned.add(child)
  const logs: Array<string> = []
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line.trim() !== "") logs.push(line)
  }
  child.stdout?.on("data", collect)
  child.stderr?.on("data", collect)
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { name, child, logs, exited }
}

export const stopProcessor = async (p: ProcessorProcess, signal: NodeJS.Signals = "SIGTERM") => {
  if (p.child.exitCode !== null) return p.child.exitCode
  p.child.kill(signal)
  return p.exited
}

/** The load: SPEC entries at a steady pace, with re-sends, out-of-order fixes and ~5% poison
 * (half undecodable, half rejected by PostgreSQL). Only entries Redis accepted count as sent. */
export class Load {
  readonly validKeys = new Set<string>()
  readonly poisonPayloads = new Set<string>()
  readonly resent = { count: 0 }
  sent = 0
  private readonly servers: Servers
  private readonly next: () => number
  private readonly devices: Array<{ id: string; ts: number }>
  private readonly recent: Array<Array<string>> = []
  private stopped = false
  private running: Promise<void> | undefined

  constructor(servers: Servers, seed: number, deviceCount = 200) {
    this.servers = servers
    this.next = random(seed)
    this.devices = Array.from({ length: deviceCount }, (_, i) => ({
      id: `35${String(seed * 10_000 + i).padStart(13, "0")}`,
      ts: 1_700_000_000_000,
    }))
  }

  private makeBatch(size: number): Array<{ fields: Array<string>; key?: string; poison?: string }> {
    const batch: Array<{ fields: Array<string>; key?: string; poison?: string }> = []
    for (let i = 0; i < size; i++) {
      const r = this.next()
      const device = this.devices[Math.floor(this.next() * this.devices.length)] as { id: string; ts: number }
      if (r < 0.025) {
        const payload = `{"device_id":"${device.id}","broken":${this.sent + i}`
        batch.push({ fields: ["payload", payload, "source", "fault-test"], poison: payload })
      } else if (r < 0.05) {
        device.ts += 1000
        const payload = JSON.stringify(validPayload(device.id, device.ts, { satellites: 100_000 }))
        batch.push({ fields: ["payload", payload, "source", "fault-test"], poison: payload })
      } else if (r < 0.1 && this.recent.length > 0) {
        batch.push({ fields: this.recent[Math.floor(this.next() * this.recent.length)] as Array<string> })
        this.resent.count++
      } else {
        // Some fixes go out late: an older timestamp after newer ones of the same device.
        const late = r > 0.97
        device.ts += 1000
        const ts = late ? device.ts - 500 : device.ts
        const fields = entryFields(validPayload(device.id, ts))
        batch.push({ fields, key: `${device.id}|${ts}` })
        this.recent.push(fields)
        if (this.recent.length > 500) this.recent.shift()
      }
    }
    return batch
  }

  /** Sends until `total` entries were sent, `perTick` every 20 ms; a batch Redis did not take is
   * sent again. Calling it again after `done()` sends more, up to the new total. */
  start(total: number, perTick = 50): void {
    this.running = (async () => {
      while (!this.stopped && this.sent < total) {
        const batch = this.makeBatch(Math.min(perTick, total - this.sent))
        for (;;) {
          try {
            // All of the batch or none of it (MULTI), as a gateway stores one packet.
            const transaction = this.servers.client.multi()
            for (const e of batch) transaction.call("XADD", STREAM, "*", ...e.fields)
            // A reply lost in a restart must not stall the load forever: give up and send again.
            const results = await Promise.race([
              transaction.exec(),
              new Promise<never>((_, reject) => setTimeout(() => reject(new Error("XADD timed out")), 5_000).unref()),
            ])
            if (results === null || results.some(([error]) => error !== null)) throw new Error("XADD failed")
            break
          } catch {
            await new Promise((r) => setTimeout(r, 100))
          }
        }
        for (const e of batch) {
          if (e.key !== undefined) this.validKeys.add(e.key)
          if (e.poison !== undefined) this.poisonPayloads.add(e.poison)
        }
        this.sent += batch.length
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
  }

  async done(): Promise<void> {
    await this.running
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.running
  }
}

export const waitFor = async (check: () => Promise<boolean>, what: string, boundMs = 120_000) => {
  const deadline = Date.now() + boundMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export const rowCount = async (servers: Servers) => {
  try {
    const [row] = await servers.sql("SELECT count(*)::int AS n FROM positions")
    return Number(row?.n ?? 0)
  } catch {
    return -1
  }
}

export const groupState = async (servers: Servers) => {
  try {
    const groups = (await servers.client.call("XINFO", "GROUPS", STREAM)) as Array<Array<unknown>>
    const stream = (await servers.client.call("XINFO", "STREAM", STREAM)) as Array<unknown>
    const group = groups.find((g) => g[g.indexOf("name") + 1] === GROUP)
    if (group === undefined) return undefined
    const at = (k: string) => group[group.indexOf(k) + 1]
    return {
      pending: Number(at("pending")),
      // Redis cannot compute lag after deletions; "delivered up to the last entry" is exact.
      caughtUp: at("last-delivered-id") === stream[stream.indexOf("last-generated-id") + 1],
    }
  } catch {
    return undefined
  }
}

/** Pipeline settled: everything sent was delivered and acknowledged, every row and DLQ entry in. */
export const settle = async (servers: Servers, load: Load, expectedRows = load.validKeys.size) =>
  waitFor(async () => {
    const g = await groupState(servers)
    if (g === undefined || g.pending !== 0 || !g.caughtUp) return false
    const dlq = await servers.client.xlen(DLQ)
    return (await rowCount(servers)) >= expectedRows && dlq >= load.poisonPayloads.size
  }, "pipeline to settle")

export interface Verdict {
  readonly fault: string
  readonly sent: number
  readonly rows: number
  readonly deadLettered: number
  readonly lost: number
  readonly duplicated: number
  readonly unexpected: number
}

/** What is in PostgreSQL and the DLQ against the ledger: lost and duplicated must be 0. */
export const verdict = async (
  servers: Servers,
  load: Load,
  fault: string,
  excusedKeys = new Set<string>(),
): Promise<Verdict> => {
  const rows = await servers.sql("SELECT device_id, (extract(epoch FROM ts) * 1000)::bigint AS ts FROM positions")
  const stored = new Map<string, number>()
  for (const r of rows) {
    const key = `${String(r.device_id)}|${String(r.ts)}`
    stored.set(key, (stored.get(key) ?? 0) + 1)
  }
  let lost = 0
  for (const key of load.validKeys) if (!stored.has(key) && !excusedKeys.has(key)) lost++
  let duplicated = 0
  let unexpected = 0
  for (const [key, n] of stored) {
    if (n > 1) duplicated += n - 1
    if (!load.validKeys.has(key)) unexpected++
  }
  const dlqEntries = (await servers.client.call("XRANGE", DLQ, "-", "+")) as Array<[string, Array<string>]>
  const dlqPayloads = new Map<string, number>()
  for (const [, fields] of dlqEntries) {
    const payload = fields[fields.indexOf("payload") + 1] ?? ""
    dlqPayloads.set(payload, (dlqPayloads.get(payload) ?? 0) + 1)
  }
  for (const payload of load.poisonPayloads) if (!dlqPayloads.has(payload)) lost++
  let inStream: Map<string, number> | undefined
  for (const [payload, n] of dlqPayloads) {
    if (n > 1) {
      // Each stream entry is dead-lettered once; a payload the stream holds twice may be twice.
      inStream ??= await payloadCounts(servers)
      const copies = inStream.get(payload) ?? 1
      if (n > copies) duplicated += n - copies
    }
    if (!load.poisonPayloads.has(payload)) unexpected++
  }
  return { fault, sent: load.sent, rows: rows.length, deadLettered: dlqEntries.length, lost, duplicated, unexpected }
}

const payloadCounts = async (servers: Servers) => {
  const entries = (await servers.client.call("XRANGE", STREAM, "-", "+")) as Array<[string, Array<string>]>
  const counts = new Map<string, number>()
  for (const [, fields] of entries) {
    const payload = fields[fields.indexOf("payload") + 1] ?? ""
    counts.set(payload, (counts.get(payload) ?? 0) + 1)
  }
  return counts
}

export const logsMatching = (p: ProcessorProcess, pattern: RegExp) => p.logs.filter((l) => pattern.test(l))

import { afterAll, describe, expect, it } from "vitest"
import { compareStreamIds, previousStreamId } from "../../src/domain/StreamId.ts"
import { entryFields, validPayload } from "../support/entries.ts"
import {
  DLQ,
  GROUP,
  killAllProcessors,
  Load,
  logsMatching,
  type ProcessorProcess,
  rowCount,
  type Servers,
  STREAM,
  settle,
  spawnProcessor,
  startServers,
  stopProcessor,
  type Verdict,
  verdict,
  waitFor,
} from "../support/harness.ts"

/**
 * SPEC §8, each failure injected into real processes under a steady load with re-sends and ~5%
 * poison; afterwards: rows = distinct valid keys sent, DLQ = exactly the poison, pending 0, nothing
 * duplicated. The table at the end is the suite's report.
 */

const table: Array<Verdict> = []

afterAll(() => {
  const header = ["fault", "entries sent", "rows written", "dead-lettered", "lost", "duplicated", "unexpected"]
  const rows = table.map((v) =>
    [v.fault, v.sent, v.rows, v.deadLettered, v.lost, v.duplicated, v.unexpected].map(String),
  )
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: Array<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`
  console.log(["", line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"))
})

const withServers = async (body: (servers: Servers) => Promise<Verdict>) => {
  const servers = await startServers()
  try {
    const v = await body(servers)
    table.push(v)
    expect(v.lost).toBe(0)
    expect(v.duplicated).toBe(0)
    expect(v.unexpected).toBe(0)
    const pending = (await servers.client.call("XPENDING", STREAM, GROUP)) as [number]
    expect(pending[0]).toBe(0)
  } finally {
    killAllProcessors()
    await servers.close()
  }
}

const rowsAtLeast = (servers: Servers, n: number) => waitFor(async () => (await rowCount(servers)) >= n, `${n} rows`)

/** Stops PostgreSQL once `rowsFirst` rows are in, goes on sending `moreEntries` while it is away,
 * and returns when the processor is retrying a write (a batch surely in flight). */
const stopPostgresUnderLoad = async (
  servers: Servers,
  load: Load,
  p: ProcessorProcess,
  rowsFirst: number,
  moreEntries: number,
) => {
  await rowsAtLeast(servers, rowsFirst)
  await servers.pg.stop()
  await load.done()
  load.start(moreEntries)
  await waitFor(async () => logsMatching(p, /write batch failed; retrying/).length > 0, "writes to be retrying")
}

describe("fault injection (SPEC §8)", () => {
  it("processor SIGKILLed mid-batch, three times in a row", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 1)
      let p = spawnProcessor(servers, "p1")
      load.start(8000)
      for (let kill = 1; kill <= 3; kill++) {
        await rowsAtLeast(servers, kill * 1500)
        await stopProcessor(p, "SIGKILL")
        p = spawnProcessor(servers, "p1")
      }
      await load.done()
      await settle(servers, load)
      await stopProcessor(p)
      return verdict(servers, load, "SIGKILL ×3 mid-batch")
    }))

  it("Postgres stopped and restarted under load", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 2)
      const p = spawnProcessor(servers, "p1")
      load.start(3000)
      // Entries keep arriving while the database is away; the processor must wait, not lose them.
      await stopPostgresUnderLoad(servers, load, p, 1000, 6000)
      await load.done()
      await servers.pg.start()
      await settle(servers, load)
      expect(p.child.exitCode).toBeNull()
      await stopProcessor(p)
      return verdict(servers, load, "Postgres stop/start")
    }))

  it("Redis restarted (AOF) under load", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 3)
      const p = spawnProcessor(servers, "p1")
      load.start(6000)
      await rowsAtLeast(servers, 1000)
      await servers.redis.stop()
      await servers.redis.start()
      await load.done()
      await settle(servers, load)
      expect(p.child.exitCode).toBeNull()
      await stopProcessor(p)
      return verdict(servers, load, "Redis restart (AOF)")
    }))

  it("Redis down while batches wait on a stopped Postgres: the claim heartbeat fails, nothing is lost", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 8)
      // CLAIM_THRESHOLD_MS 3000 (harness): a beat every second touches batches in flight ≥ 1 s.
      const p = spawnProcessor(servers, "p1")
      load.start(3000)
      await stopPostgresUnderLoad(servers, load, p, 500, 5000)
      await servers.redis.stop()
      await waitFor(
        async () => logsMatching(p, /could not keep slow batches' entries claimed/).length > 0,
        "the heartbeat to fail",
      )
      await servers.redis.start()
      await servers.pg.start()
      await load.done()
      await settle(servers, load)
      expect(p.child.exitCode).toBeNull()
      await stopProcessor(p)
      return verdict(servers, load, "Redis down during slow writes")
    }))

  it("consumer group deleted (XGROUP DESTROY) mid-load", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 4)
      const p = spawnProcessor(servers, "p1")
      load.start(6000)
      await rowsAtLeast(servers, 2000)
      await waitFor(async () => (await servers.sql("SELECT 1 FROM stream_checkpoints")).length > 0, "a checkpoint")
      await servers.client.call("XGROUP", "DESTROY", STREAM, GROUP)
      await load.done()
      await settle(servers, load)
      expect(logsMatching(p, /recreated from the checkpoint/).length).toBeGreaterThan(0)
      await stopProcessor(p)
      return verdict(servers, load, "XGROUP DESTROY")
    }))

  it("stream trimmed past unprocessed entries: the loss is reported, the rest processed", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 5)
      let p = spawnProcessor(servers, "p1")
      load.start(3000)
      await load.done()
      await settle(servers, load)
      expect(await stopProcessor(p)).toBe(0)
      // While no processor runs, 1000 more entries arrive and the first 400 are trimmed away unread.
      // Explicit ids, so that the first retained entry always opens a new millisecond: the case where
      // "just before it" is not the last trimmed id but the largest id of the millisecond before.
      const base = Date.now() + 60_000
      const ids: Array<string> = []
      const keys: Array<string> = []
      for (let i = 0; i < 1000; i++) {
        const ts = 1_800_000_000_000 + i
        const id = i < 400 ? `${base}-${i}` : `${base + 1}-${i - 400}`
        ids.push(String(await servers.client.call("XADD", STREAM, id, ...entryFields(validPayload("trim-dev", ts)))))
        keys.push(`trim-dev|${ts}`)
        load.validKeys.add(`trim-dev|${ts}`)
      }
      load.sent += 1000
      await servers.client.call("XTRIM", STREAM, "MINID", ids[400] as string)
      p = spawnProcessor(servers, "p1")
      await settle(servers, load, load.validKeys.size - 400)
      const gaps = await servers.sql("SELECT kind, first_id, last_id, entry_count FROM stream_gaps")
      expect(gaps).toHaveLength(1)
      // The range ends just before the first retained entry: every trimmed id is inside it, no
      // retained one is.
      const lastId = String(gaps[0]?.last_id)
      expect(compareStreamIds(lastId, ids[399] as string)).toBeGreaterThanOrEqual(0)
      expect(compareStreamIds(lastId, ids[400] as string)).toBeLessThan(0)
      expect(lastId).toBe(previousStreamId(ids[400] as string))
      expect(Number(gaps[0]?.entry_count)).toBe(400)
      expect(logsMatching(p, /cursor lost/).length).toBe(1)
      await stopProcessor(p)
      const v = await verdict(servers, load, "stream trimmed (400 lost by design)", new Set(keys.slice(0, 400)))
      // The trimmed 400 are reported above; nothing else may be missing.
      const trimmedStored = await servers.sql("SELECT count(*)::int AS n FROM positions WHERE device_id = 'trim-dev'")
      expect(Number(trimmedStored[0]?.n)).toBe(600)
      return v
    }))

  it("two processors share the group; one is SIGKILLed and the survivor claims its entries", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 6)
      const p1 = spawnProcessor(servers, "p1")
      const p2 = spawnProcessor(servers, "p2")
      load.start(8000)
      await rowsAtLeast(servers, 1500)
      await stopProcessor(p2, "SIGKILL")
      await load.done()
      await settle(servers, load)
      await stopProcessor(p1)
      return verdict(servers, load, "2 processors, one SIGKILLed")
    }))

  it("a batch with one out-of-range row: only that row is dead-lettered", () =>
    withServers(async (servers) => {
      const load = new Load(servers, 7)
      const pipeline = servers.client.pipeline()
      for (let i = 0; i < 300; i++) {
        const poison = i === 150
        const payload = JSON.stringify(
          validPayload("batch-dev", 1_750_000_000_000 + i, poison ? { speed: 50, satellites: 40_000 } : {}),
        )
        pipeline.call("XADD", STREAM, "*", "payload", payload)
        if (poison) load.poisonPayloads.add(payload)
        else load.validKeys.add(`batch-dev|${1_750_000_000_000 + i}`)
      }
      await pipeline.exec()
      load.sent = 300
      const p = spawnProcessor(servers, "p1")
      await settle(servers, load)
      await stopProcessor(p)
      const dlq = (await servers.client.call("XRANGE", DLQ, "-", "+")) as Array<[string, Array<string>]>
      expect(dlq).toHaveLength(1)
      const fields = dlq[0]?.[1] ?? []
      expect(fields[fields.indexOf("dlq_error_tag") + 1]).toBe("PermanentWriteError")
      expect(fields[fields.indexOf("dlq_error_message") + 1]).toMatch(/22003/)
      return verdict(servers, load, "one out-of-range row in a batch")
    }))
})

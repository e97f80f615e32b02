import { describe, expect, it } from "vitest"
import { validPayload } from "../support/entries.ts"
import {
  GROUP,
  killAllProcessors,
  Load,
  rowCount,
  STREAM,
  settle,
  spawnProcessor,
  startServers,
  stopProcessor,
  verdict,
  waitFor,
} from "../support/harness.ts"

/** The processor as users run it (`node src/main.ts processor`), end to end on real servers. */
describe("processor end to end", () => {
  it("20k entries with re-sends, out-of-order fixes and poison; SIGTERM mid-load exits 0; a restart finishes the job", async () => {
    const servers = await startServers()
    try {
      const load = new Load(servers, 11, 1000)
      let p = spawnProcessor(servers, "p1")
      load.start(20_000, 100)
      await waitFor(async () => (await rowCount(servers)) >= 3000, "3000 rows")
      // A deploy: SIGTERM while entries keep arriving. In-flight batches finish, then exit 0.
      expect(await stopProcessor(p, "SIGTERM")).toBe(0)
      expect(p.logs.some((l) => l.includes("processor stopped"))).toBe(true)
      p = spawnProcessor(servers, "p1")
      await load.done()
      await settle(servers, load)
      expect(await stopProcessor(p, "SIGTERM")).toBe(0)

      const v = await verdict(servers, load, "e2e")
      expect(load.resent.count).toBeGreaterThan(500)
      expect(v.rows).toBe(load.validKeys.size)
      expect(v.lost).toBe(0)
      expect(v.duplicated).toBe(0)
      expect(v.unexpected).toBe(0)
      const pending = (await servers.client.call("XPENDING", STREAM, GROUP)) as [number]
      expect(pending[0]).toBe(0)
      // Every entry was acknowledged: the group has delivered everything and holds nothing.
      // The attributes arrive as sent, 64-bit and byte values in their tagged form.
      const [row] = await servers.sql("SELECT attributes FROM positions LIMIT 1")
      expect(row?.attributes).toEqual(validPayload("x", 0).attributes)
      const [checkpoint] = await servers.sql("SELECT last_done_id FROM stream_checkpoints")
      expect(checkpoint?.last_done_id).toBeDefined()
    } finally {
      killAllProcessors()
      await servers.close()
    }
  })

  it("past DRAIN_TIMEOUT_MS (PostgreSQL down) shutdown exits 1, leaving unfinished entries pending for the next start", async () => {
    const servers = await startServers()
    try {
      const load = new Load(servers, 12)
      let p = spawnProcessor(servers, "p1", { DRAIN_TIMEOUT_MS: "1000" })
      load.start(1000)
      await load.done()
      await settle(servers, load)
      await servers.pg.stop()
      load.start(2000)
      await load.done()
      await waitFor(
        async () => p.logs.some((l) => l.includes("write batch failed; retrying")),
        "a batch stuck on the database",
      )
      // The stuck batch cannot finish: the drain deadline ends the process, non-zero.
      expect(await stopProcessor(p, "SIGTERM")).toBe(1)
      expect(p.logs.some((l) => l.includes("DRAIN_TIMEOUT_MS"))).toBe(true)
      const pending = (await servers.client.call("XPENDING", STREAM, GROUP)) as [number]
      expect(pending[0]).toBeGreaterThan(0)
      await servers.pg.start()
      p = spawnProcessor(servers, "p1")
      await settle(servers, load)
      expect(await stopProcessor(p, "SIGTERM")).toBe(0)
      const v = await verdict(servers, load, "drain timeout")
      expect([v.lost, v.duplicated, v.unexpected]).toEqual([0, 0, 0])
    } finally {
      killAllProcessors()
      await servers.close()
    }
  })
})

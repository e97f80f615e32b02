/**
 * Reproducers for what made the processor's batches outlive young collections (README,
 * "Benchmark"): how much of what a timer-paced loop allocates V8 promotes to the old generation.
 * No servers.
 *
 *   node bench/gcPromotion.ts
 *
 * - `inline-generator` / `generator-once`: the cause found in session 6. A generator made from a
 *   `function*` literal that is created per call (an `Effect.gen(function* …)` written inside a
 *   callback that runs per batch) has what it references promoted; the same generator function
 *   defined once (`Effect.fnUntraced` at layer level) promotes nothing. Pure JS, no Effect:
 *   ~40% of the loop's bytes against ~1%. The processor had two such literals per batch (the read's
 *   reply handling, the commit's state-and-write step); written as combinators, an in-process
 *   processor at 5,000 msg/s went from 32 MB promoted in 8 s to none.
 * - `ioredis-command` / `plain-promise`: ioredis's `Command` creates its reject handler as a
 *   property-assigned arrow inside the promise executor (`this.reject = (err) => …`), and about half
 *   of that loop's bytes are promoted. In the processor, rewriting it left promotion unchanged, so it
 *   was not kept.
 * - `set-rehash` / `set-steady`: a long-lived `Set` that holds each batch while it is worked on. When
 *   it grows and shrinks under its entries (up to 9 at a time here), V8 rehashes it into a new table
 *   and keeps the obsolete table (which still references the entries it had) linked to the new one
 *   until a full collection; once an obsolete table is in the old generation, every table after it,
 *   and every batch they held, is promoted. With at most 2 entries (no growth) it does not happen.
 *   Session 7 found such growth in the processor's promoted objects (Set/Map `delete` and `set`
 *   among the allocation sites of what survived): the in-flight set, Effect's fiber children and
 *   queue takers, the PostgreSQL driver's statement cache.
 */
import * as ChildProcess from "node:child_process"
import { Command } from "ioredis"

type Mode = "inline-generator" | "generator-once" | "ioredis-command" | "plain-promise" | "set-rehash" | "set-steady"
const MODES: ReadonlyArray<Mode> = [
  "inline-generator",
  "generator-once",
  "ioredis-command",
  "plain-promise",
  "set-rehash",
  "set-steady",
]

/** Lives as long as the process, like a service's in-flight registry. */
const inFlight = new Set<ReadonlyArray<string>>()

function* lengthOnce(batch: ReadonlyArray<string>): Generator<number, number, number> {
  const extra = yield 1
  return batch.length + extra
}
const SECONDS = 10
const WARMUP_MS = 3_000

const runLoop = async (mode: Mode) => {
  const reply = Array.from({ length: 15 }, () => Buffer.from("x".repeat(300)))
  const stopAt = Date.now() + SECONDS * 1000
  while (Date.now() < stopAt) {
    if (mode === "inline-generator" || mode === "generator-once") {
      const batch = await new Promise<Array<string>>((resolve) =>
        setImmediate(() => resolve(reply.map((b) => b.subarray(0).toString()))),
      )
      const generator =
        mode === "inline-generator"
          ? (function* (): Generator<number, number, number> {
              const extra = yield 1
              return batch.length + extra
            })()
          : lengthOnce(batch)
      generator.next(0)
      generator.next(1)
    } else if (mode === "set-rehash" || mode === "set-steady") {
      const batches = Array.from({ length: mode === "set-rehash" ? 9 : 2 }, () =>
        reply.map((b) => b.subarray(0).toString()),
      )
      for (const batch of batches) inFlight.add(batch)
      await new Promise((resolve) => setImmediate(resolve))
      for (const batch of batches) inFlight.delete(batch)
    } else if (mode === "ioredis-command") {
      const command = new Command("lrange", ["l", 0, -1], { replyEncoding: "utf8" })
      command.resolve(reply.map((b) => b.subarray(0)))
      await command.promise
    } else {
      await new Promise((resolve) => resolve(reply.map((b) => b.subarray(0).toString())))
    }
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

/** Allocated and promoted bytes per second over the scavenges after the warm-up, from --trace-gc-nvp. */
const measure = (mode: Mode) => {
  const out = ChildProcess.execFileSync(
    process.execPath,
    ["--max-semi-space-size=8", "--trace-gc-nvp", import.meta.filename, "child", mode],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  )
  const scavenges = out
    .split("\n")
    .map((line) => /\]\s+(\d+) ms: pause=.* gc=s .*allocated=(\d+) promoted=(\d+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ ms: Number(m[1]), allocated: Number(m[2]), promoted: Number(m[3]) }))
    .filter((s) => s.ms >= WARMUP_MS)
  const first = scavenges[0]
  const last = scavenges.at(-1)
  if (first === undefined || last === undefined || last.ms === first.ms) return `${mode}: too few scavenges`
  const seconds = (last.ms - first.ms) / 1000
  const later = scavenges.slice(1)
  const allocated = later.reduce((sum, s) => sum + s.allocated, 0)
  const promoted = later.reduce((sum, s) => sum + s.promoted, 0)
  return `${mode.padEnd(16)} allocated ${(allocated / seconds / 1e6).toFixed(1)} MB/s, promoted ${(promoted / seconds / 1e3).toFixed(0)} KB/s (${((100 * promoted) / Math.max(1, allocated)).toFixed(1)}%)`
}

if (process.argv[2] === "child") await runLoop(process.argv[3] as Mode)
else for (const mode of MODES) console.log(measure(mode))

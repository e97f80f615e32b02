/**
 * CPU per batch at a trickle: XADD `k` entries, wait until the group has read and acknowledged
 * them, repeat. Every batch is then exactly `k` entries, so the contender's CPU per round is its
 * fixed cost per batch (round trips, fiber steps, metrics), which the latency case's figures mix
 * with how many entries each read happens to find.
 *
 *   node bench/pingpong.ts [processor|reference] [k=5] [rounds=3000]
 *
 * Builds nothing: run `npm run build` first for the processor's dist/.
 */
import * as Os from "node:os"
import { type Contender, launch } from "./contenders.ts"
import { generate } from "./data.ts"
import { freePort, groupState, sleep, withSampleServers, xaddEntries } from "./infra.ts"

const contender = (process.argv[2] ?? "processor") as Contender
const k = Number(process.argv[3] ?? 5)
const rounds = Number(process.argv[4] ?? 3000)
/** Every device sends once before the measured rounds, so no round pays for a cold device. */
const devices = 10_000
const data = generate({ entries: k * rounds + devices, devices, resendRate: 0, seed: 7 })

await withSampleServers(async ({ servers, producer, observer, track }) => {
  const running = launch(contender, {
    servers,
    logDir: Os.tmpdir(),
    label: `pingpong-${contender}`,
    httpPort: await freePort(),
    stateMaxDevices: 100_000,
    processorEnv: {},
    referenceEnv: {},
  })
  track(running)
  while (!(await groupState(observer)).exists) await sleep(50)
  let sent = 0
  const send = async (n: number) => {
    await xaddEntries(producer, data, sent, sent + n)
    sent += n
  }
  const acknowledged = async () => {
    for (;;) {
      const state = await groupState(observer)
      if (state.entriesRead === sent && state.pending === 0) return
      await sleep(1)
    }
  }
  for (let i = 0; i < devices; i += 500) {
    await send(500)
    await acknowledged()
  }
  const cpuBefore = running.cpuMs()
  const started = performance.now()
  for (let round = 0; round < rounds; round++) {
    await send(k)
    await acknowledged()
  }
  const cpuUs = (running.cpuMs() - cpuBefore) * 1000
  const ms = (performance.now() - started) / rounds
  console.log(
    `${contender}, ${k} entries a batch: ${(cpuUs / rounds).toFixed(0)} µs of CPU per batch, ${ms.toFixed(2)} ms a round`,
  )
})

import { Context, Layer } from "effect"

/** When the read loop last went round: liveness is "beat recently", not "process exists". */
export class Heartbeat extends Context.Service<
  Heartbeat,
  {
    readonly beat: () => void
    readonly lastBeatMs: () => number
  }
>()("telemetry/processor/Heartbeat") {
  static readonly layer = Layer.sync(Heartbeat, () => {
    let last = Date.now()
    return Heartbeat.of({
      beat: () => {
        last = Date.now()
      },
      lastBeatMs: () => last,
    })
  })
}

import { Effect } from "effect"

/**
 * SIGTERM/SIGINT interrupt the main fiber (NodeRuntime.runMain); in-flight batches then finish.
 * If that takes longer than DRAIN_TIMEOUT_MS (Postgres down, say), exit 1 anyway: the unfinished
 * entries stay pending and are re-read or claimed later.
 */
export const installDrainDeadline = (drainTimeoutMs: number) =>
  Effect.sync(() => {
    const arm = (signal: NodeJS.Signals) => {
      const timer = setTimeout(() => {
        process.stderr.write(
          `${JSON.stringify({ level: "ERROR", message: `drain did not finish within DRAIN_TIMEOUT_MS=${drainTimeoutMs}; exiting with unfinished entries left pending`, signal, timestamp: new Date().toISOString() })}\n`,
        )
        process.exit(1)
      }, drainTimeoutMs)
      timer.unref()
    }
    process.once("SIGTERM", arm)
    process.once("SIGINT", arm)
  })

/** Defects outside any fiber (a library's stray callback) must not leave a half-alive process. */
export const installCrashHandlers = () => {
  const crash = (kind: string) => (error: unknown) => {
    process.stderr.write(
      `${JSON.stringify({
        level: "FATAL",
        message: `${kind}; exiting so the orchestrator restarts the process`,
        error:
          error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error),
        timestamp: new Date().toISOString(),
      })}\n`,
    )
    process.exit(1)
  }
  process.on("uncaughtException", crash("uncaught exception"))
  process.on("unhandledRejection", crash("unhandled promise rejection"))
}

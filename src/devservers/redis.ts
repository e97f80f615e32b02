import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort, waitForPort } from "./ports.ts"
import { guardWithWatchdog, shellQuote } from "./watchdog.ts"

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** Stops the server the way an orchestrator does (SIGTERM); with AOF the data survives. */
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
  readonly destroy: () => Promise<void>
}

export interface RedisOptions {
  /** Append-only file, fsync every second: the compose file's setting. */
  readonly appendOnly?: boolean
}

/** Starts a throwaway redis-server on a free loopback port in a fresh temp directory. */
export const startRedis = async (options: RedisOptions = {}): Promise<RedisServer> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "telemetry-redis-"))
  const port = await freePort()
  let child: ChildProcess.ChildProcess | undefined
  const start = async () => {
    const args = [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      options.appendOnly === false ? "no" : "yes",
      "--appendfsync",
      "everysec",
      "--maxmemory-policy",
      "noeviction",
      "--logfile",
      Path.join(dir, "redis.log"),
      "--pidfile",
      Path.join(dir, "redis.pid"),
    ]
    const spawned = ChildProcess.spawn("redis-server", args, { stdio: "ignore" })
    child = spawned
    const exited = new Promise<never>((_, reject) =>
      spawned.once("exit", (code) =>
        reject(new Error(`redis-server exited ${code} during start-up (see ${dir}/redis.log)`)),
      ),
    )
    await Promise.race([waitForPort(port, 30_000), exited])
  }
  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve())
      running.kill("SIGTERM")
    })
  }
  await start()
  // The pid changes across stop/start: the watchdog reads the current one from the pid file.
  const pidFile = shellQuote(Path.join(dir, "redis.pid"))
  const watchdog = guardWithWatchdog(`kill "$(cat ${pidFile})" 2>/dev/null; sleep 1; rm -rf ${shellQuote(dir)}`)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    start,
    stop,
    destroy: async () => {
      await stop()
      Fs.rmSync(dir, { recursive: true, force: true })
      watchdog.cancel()
    },
  }
}

import * as ChildProcess from "node:child_process"

/**
 * Throwaway servers must not outlive whoever started them, even when that process is killed with
 * SIGKILL (a test run cut off by a timeout, a demo killed by hand): a detached shell polls the
 * owner's pid and, once it is gone, runs `cleanup` (stop the server, remove its directory).
 * The watchdog itself is unref'd, so it never keeps the owner alive.
 */
export const guardWithWatchdog = (cleanup: string): { readonly cancel: () => void } => {
  const owner = process.pid
  const script = `while kill -0 ${owner} 2>/dev/null; do sleep 1; done; ${cleanup}`
  const child = ChildProcess.spawn("sh", ["-c", script], { detached: true, stdio: "ignore" })
  child.unref()
  return {
    cancel: () => {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid)
        } catch (error) {
          // Already gone is what cancel wants; anything else is a real problem.
          if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
        }
      }
    },
  }
}

/** Quotes a value for a POSIX shell command line. */
export const shellQuote = (value: string): string => `'${value.replaceAll("'", "'\\''")}'`

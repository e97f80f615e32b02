import { processorProgram } from "../../src/cli/processor.ts"
import type { ProcessorSettings } from "../../src/config/AppConfig.ts"
import type { HttpRoleSettings } from "../../src/http/roles.ts"

/** The processor as `telemetry processor` runs it, HTTP server and control channel included. */
export const processorWithOps = (settings: ProcessorSettings, http: HttpRoleSettings) =>
  processorProgram(settings, http)

/** Polls until `check` holds; the bound only stops a broken test from hanging, it asserts nothing. */
export const eventually = async <A>(
  check: () => Promise<A | undefined | false>,
  what: string,
  boundMs = 60_000,
): Promise<A> => {
  const deadline = Date.now() + boundMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) throw new Error(`still waiting for: ${what}`, { cause: lastError })
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** `name{labels} value` lines of a Prometheus text exposition; throws on a line that is neither
 * that nor a comment, so a malformed exposition fails the test. */
export const parsePrometheus = (text: string): Map<string, number> => {
  const samples = new Map<string, number>()
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))$/
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue
    const match = sample.exec(line)
    if (match === null) throw new Error(`not Prometheus text: ${line}`)
    samples.set(match[1] as string, Number(match[2]))
  }
  return samples
}

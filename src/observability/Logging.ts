import { Effect, Layer, Logger, type LogLevel, References } from "effect"
import { type LogLevelName, LogSettings } from "../config/AppConfig.ts"

const LEVELS: Record<LogLevelName, LogLevel.LogLevel> = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None",
}

/** One JSON object per line on stdout by default (LOG_FORMAT=json); LOG_FORMAT=pretty for people. */
export const LoggingLive = Layer.unwrap(
  Effect.gen(function* () {
    const settings = yield* LogSettings
    return Layer.mergeAll(
      Logger.layer([settings.format === "json" ? Logger.consoleJson : Logger.consolePretty()]),
      Layer.succeed(References.MinimumLogLevel, LEVELS[settings.level]),
    )
  }),
)

#!/usr/bin/env node
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Exit } from "effect"
import { Command } from "effect/cli"
import { demoCommand } from "./cli/demo.ts"
import { gatewayCommand } from "./cli/gateway.ts"
import { opsCommands } from "./cli/ops.ts"
import { migrateCommand, processorCommand } from "./cli/processor.ts"
import { installCrashHandlers } from "./cli/shutdown.ts"
import { LoggingLive } from "./observability/Logging.ts"

installCrashHandlers()

const telemetry = Command.make("telemetry").pipe(
  Command.withDescription("Teltonika telemetry ingestion: gateway → Redis Stream → processor → PostgreSQL"),
  Command.withSubcommands([processorCommand, gatewayCommand, migrateCommand, demoCommand, ...opsCommands]),
)

/** An invalid variable stops start-up with exit code 2 and a message naming it. */
const exitOnConfigError = (error: { readonly message: string }) =>
  Effect.sync(() => {
    process.stderr.write(
      `${JSON.stringify({ level: "FATAL", message: `invalid configuration: ${error.message}`, timestamp: new Date().toISOString() })}\n`,
    )
    process.exit(2)
  })

telemetry.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.catchTag("ConfigError", exitOnConfigError),
  Effect.provide(LoggingLive),
  Effect.catchTag("ConfigError", exitOnConfigError),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    disableErrorReporting: false,
    teardown: (exit, done) => {
      const code = Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1
      done(code === 0 && typeof process.exitCode === "number" ? process.exitCode : code)
    },
  }),
)

import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Result, Schedule } from "effect"
import { type RedisServer, startRedis } from "../../src/devservers/index.ts"
import { connect, type RedisCommand } from "../../src/redis/RedisClient.ts"
import type { RedisError } from "../../src/redis/RedisError.ts"

/* Its own Redis: the last test stops it. */
let server: RedisServer

beforeAll(async () => {
  server = await startRedis({ appendOnly: false })
})

afterAll(async () => {
  await server.destroy()
})

const withConnection = <A, E>(use: (c: Effect.Success<ReturnType<typeof connect>>) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(connect(Redacted.make(server.url), "test"), use))

const outcomes = (results: ReadonlyArray<Result.Result<unknown, RedisError>>) =>
  results.map((r) => (Result.isSuccess(r) ? { ok: r.success } : { failed: r.failure.command, code: r.failure.code }))

describe("RedisClient", () => {
  it.live("pipelineSettled: every command runs, in order, each with its own outcome", () =>
    withConnection(({ connection }) =>
      Effect.gen(function* () {
        const commands: Array<RedisCommand> = [
          ["SET", "k:string", "a"],
          ["LPUSH", "k:string", "x"], // WRONGTYPE: fails alone
          ["INCR", "k:counter"],
          ["GET", "k:string"],
          ["INCR", "k:counter"],
        ]
        const results = yield* connection.pipelineSettled(commands)
        expect(outcomes(results)).toEqual([
          { ok: "OK" },
          { failed: "LPUSH", code: "WRONGTYPE" },
          { ok: 1 },
          { ok: "a" },
          { ok: 2 },
        ])
      }),
    ),
  )

  it.live("pipeline: fails with the failed command's error; the others ran (not atomic)", () =>
    withConnection(({ connection }) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          connection.pipeline([
            ["SET", "p:string", "a"],
            ["LPUSH", "p:string", "x"],
            ["SET", "p:after", "b"],
          ]),
        )
        expect(error.command).toBe("LPUSH")
        expect(error.code).toBe("WRONGTYPE")
        expect(yield* connection.call("GET", ["p:after"])).toBe("b")
        expect(
          yield* connection.pipeline([
            ["GET", "p:string"],
            ["EXISTS", "p:after"],
          ]),
        ).toEqual(["a", 1])
      }),
    ),
  )

  it.live("a batch of many commands arrives whole: 2,000 INCRs answer 1 to 2,000 in order", () =>
    withConnection(({ connection }) =>
      Effect.gen(function* () {
        const commands = Array.from({ length: 2_000 }, (): RedisCommand => ["INCR", "k:many"])
        const values = yield* connection.pipeline(commands)
        expect(values).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1))
      }),
    ),
  )

  it.live("with the server gone, each command of a pipelineSettled fails (no hang); it works again after", () =>
    withConnection(({ connection }) =>
      Effect.gen(function* () {
        expect(yield* connection.pipeline([["PING"]])).toEqual(["PONG"])
        yield* Effect.promise(() => server.stop())
        const results = yield* connection.pipelineSettled([["PING"], ["INCR", "k:down"]])
        expect(results.map((r) => Result.isFailure(r) && r.failure.code === undefined)).toEqual([true, true])
        yield* Effect.promise(() => server.start())
        // ioredis reconnects on its own; the caller's retry is what production does.
        const back = yield* connection
          .pipeline([["PING"], ["INCR", "k:down"]])
          .pipe(Effect.retry({ times: 200, schedule: Schedule.spaced("100 millis") }))
        expect(back).toEqual(["PONG", 1])
      }),
    ),
  )
})

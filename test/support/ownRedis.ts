import { afterAll, beforeAll } from "@effect/vitest"
import { Redis } from "ioredis"
import { type RedisOptions, type RedisServer, startRedis } from "../../src/devservers/index.ts"

/**
 * A Redis of the test file's own, for tests that stop it, restart it or flush its scripts, with a
 * plain client: started before the file's tests, destroyed after them.
 */
export const ownRedis = (options: RedisOptions = {}) => {
  let server: RedisServer | undefined
  let client: Redis | undefined
  beforeAll(async () => {
    server = await startRedis(options)
    client = new Redis(server.url)
  })
  afterAll(async () => {
    client?.disconnect()
    await server?.destroy()
  })
  const started = <A>(value: A | undefined): A => {
    if (value === undefined) throw new Error("ownRedis: used before its beforeAll ran")
    return value
  }
  return {
    get server(): RedisServer {
      return started(server)
    },
    get client(): Redis {
      return started(client)
    },
  }
}

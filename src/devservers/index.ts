export { freePort, waitForPort } from "./ports.ts"
export { type PostgresOptions, type PostgresServer, startPostgres } from "./postgres.ts"
export { type RunResult, run } from "./process.ts"
export { type RedisOptions, type RedisServer, startRedis } from "./redis.ts"

import { createRequire, Module } from "node:module"
import * as Path from "node:path"

/**
 * Keeps ioredis from slowing every string operation in the process.
 *
 * ioredis's RESP decoder declares `class VerbatimString extends String`. Once any object has
 * String.prototype on its prototype chain, V8 drops its fast paths for string methods on
 * primitive strings for the rest of the process: a `charCodeAt` loop runs 4–7× slower (measured on
 * Node 24 with ioredis 6 loaded vs not). That hit the processor's hottest loops: the payload scan
 * for the attributes text, and the PostgreSQL driver's wire encoding of every text parameter
 * (decoding went from ~2.8 to ~7 µs a record).
 *
 * ioredis never creates a VerbatimString: its reply type mapping decodes RESP3 verbatim strings to
 * a Buffer or a string, and the decoder only compares that mapping against the class. So this
 * module puts a plain class with the same shape into Node's module cache under the file's path
 * before ioredis loads (Node documents adding `require.cache` entries). It must be imported before
 * `ioredis` anywhere in the process: src/redis/RedisClient.ts imports it first, and
 * test/redis/plainVerbatimString.test.ts checks that ioredis picked it up.
 */
export class PlainVerbatimString {
  readonly format: string
  readonly value: string
  constructor(format: string, value: string) {
    this.format = format
    this.value = value
  }
  toString(): string {
    return this.value
  }
  valueOf(): string {
    return this.value
  }
}

const require = createRequire(import.meta.url)

/** Where ioredis's decoder requires the class from. */
export const verbatimStringPath = Path.join(Path.dirname(require.resolve("ioredis")), "resp", "verbatim-string.js")

if (require.cache[verbatimStringPath] === undefined) {
  const module = new Module(verbatimStringPath)
  module.filename = verbatimStringPath
  module.loaded = true
  module.exports = { VerbatimString: PlainVerbatimString }
  require.cache[verbatimStringPath] = module
}

import { createRequire } from "node:module"
import * as Path from "node:path"
import { TextReplyDecoder } from "./TextReplyDecoder.ts"

/**
 * Makes ioredis decode replies with `TextReplyDecoder` (why: that file) on every connection whose
 * reply mapping is ioredis's default; any other mapping (`replyMapping: "resp3"`,
 * `stringNumbers`) keeps ioredis's own decoder.
 *
 * The trade: the Buffer flavour of a command (`callBuffer`, `getBuffer`, …) returns text too.
 * Nothing in this process needs bytes from Redis (its stream payloads are JSON text), and
 * RedisClient sends its commands with `callBuffer` for exactly that: the reply as decoded, without
 * ioredis's second pass. ioredis creates a connection's decoder through its decoder module's
 * `Decoder` export when the connection opens, so replacing that export (on import of this module)
 * applies to every connection opened afterwards. RedisClient.ts imports it and refuses to start
 * without it; test/redis/TextReplyDecoder.test.ts checks ioredis picks it up.
 */

interface TypeMapping {
  readonly [type: number]: unknown
}

interface DecoderConfig {
  readonly getTypeMapping: () => TypeMapping
  readonly onReply: (reply: unknown) => void
  readonly onErrorReply: (error: Error) => void
  readonly onPush: (reply: Array<unknown>) => void
}

interface Decoder {
  write(chunk: Buffer): void
  reset(): void
}

type DecoderConstructor = new (config: DecoderConfig) => Decoder

interface DecoderModule {
  Decoder: DecoderConstructor
}

interface ErrorsModule {
  readonly SimpleError: new (message: string) => Error
  readonly BlobError: new (message: string) => Error
}

const require = createRequire(import.meta.url)
const respDir = Path.join(Path.dirname(require.resolve("ioredis")), "resp")
const decoderModule = require(Path.join(respDir, "decoder.js")) as DecoderModule
const errors = require(Path.join(respDir, "errors.js")) as ErrorsModule

/** ioredis's own decoder, for the mappings this one does not cover. */
export const IoredisDecoder: DecoderConstructor = decoderModule.Decoder

/** The mapping ioredis uses unless told otherwise (its `legacyTypeMapping`), by RESP type byte:
 * strings as Buffers (converted to text per command), big numbers as strings, booleans as
 * numbers, maps and sets as arrays, integers and nulls unmapped. */
const defaultMapping: ReadonlyArray<readonly [number, unknown]> = [
  [36, Buffer],
  [43, Buffer],
  [61, Buffer],
  [44, Buffer],
  [40, String],
  [35, Number],
  [37, Array],
  [126, Array],
  [58, undefined],
]

export const isDefaultMapping = (mapping: TypeMapping): boolean =>
  defaultMapping.every(([type, expected]) => mapping[type] === expected)

const chooseDecoder = (config: DecoderConfig): Decoder =>
  isDefaultMapping(config.getTypeMapping())
    ? new TextReplyDecoder({
        onReply: config.onReply,
        onErrorReply: config.onErrorReply,
        onPush: config.onPush,
        simpleError: (message) => new errors.SimpleError(message),
        blobError: (message) => new errors.BlobError(message),
      })
    : new IoredisDecoder(config)

/** ioredis calls it with `new`; a function that returns an object is what `new` then yields. */
decoderModule.Decoder = function Decoder(config: DecoderConfig) {
  return chooseDecoder(config)
} as unknown as DecoderConstructor

/** Whether connections opened from now on decode with TextReplyDecoder. */
export const textRepliesInstalled = (): boolean => decoderModule.Decoder !== IoredisDecoder

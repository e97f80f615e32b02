import { createRequire } from "node:module"
import * as Path from "node:path"
import type { Command as IoredisCommand } from "ioredis"
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
 *
 * A command sent as a `TapeCommand` gets its reply as a RespTape (its bytes and an index of its
 * elements) instead. The decoder learns which command a reply answers the way ioredis does: it is
 * the one at the head of the connection's command queue when the reply starts (ioredis takes each
 * command off the queue as its reply completes, before the next reply is decoded). The decoder is
 * created by ioredis's DataHandler, which alone knows the connection; so this module also wraps the
 * DataHandler export, to hand the connection being set up to the decoder made for it.
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

/** What the decoder reads of a connection: the command whose reply comes next. */
interface Connection {
  readonly commandQueue: { peekAt(index: number): { readonly command: unknown } | undefined }
}

type DataHandlerConstructor = new (redis: Connection, options: unknown) => unknown

interface DataHandlerModule {
  default: DataHandlerConstructor
}

interface CommandModule {
  readonly default: typeof IoredisCommand
}

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
const builtDir = Path.dirname(respDir)
const dataHandlerModule = require(Path.join(builtDir, "DataHandler.js")) as DataHandlerModule
const Command = (require(Path.join(builtDir, "Command.js")) as CommandModule).default

/** A command whose reply is to come as a RespTape (send it with the client's `sendCommand`). Not
 * for MULTI: its QUEUED acknowledgement would come as the tape. */
export class TapeCommand extends Command {
  constructor(name: string, args: ReadonlyArray<string | number | Buffer>) {
    super(name, [...args], { replyEncoding: null })
  }
}

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

/** The connection whose DataHandler (and so whose decoder) is being built. */
let connecting: Connection | undefined

/** Whether the next reply on `connection` answers a TapeCommand. */
const nextReplyIsTape = (connection: Connection) => (): boolean =>
  connection.commandQueue.peekAt(0)?.command instanceof TapeCommand

const chooseDecoder = (config: DecoderConfig): Decoder =>
  isDefaultMapping(config.getTypeMapping())
    ? new TextReplyDecoder({
        onReply: config.onReply,
        onErrorReply: config.onErrorReply,
        onPush: config.onPush,
        simpleError: (message) => new errors.SimpleError(message),
        blobError: (message) => new errors.BlobError(message),
        ...(connecting === undefined ? {} : { tapeWanted: nextReplyIsTape(connecting) }),
      })
    : new IoredisDecoder(config)

/** ioredis calls it with `new`; a function that returns an object is what `new` then yields. */
decoderModule.Decoder = function Decoder(config: DecoderConfig) {
  return chooseDecoder(config)
} as unknown as DecoderConstructor

const IoredisDataHandler = dataHandlerModule.default
dataHandlerModule.default = function DataHandler(redis: Connection, options: unknown) {
  connecting = redis
  try {
    return new IoredisDataHandler(redis, options)
  } finally {
    connecting = undefined
  }
} as unknown as DataHandlerConstructor

/** Whether connections opened from now on decode with TextReplyDecoder. */
export const textRepliesInstalled = (): boolean => decoderModule.Decoder !== IoredisDecoder

/**
 * A RESP2/RESP3 reply decoder that produces text directly: every string type becomes a JS string.
 *
 * ioredis decodes each string in a reply to a Buffer and, for every command that asked for text
 * (all of ours), walks the reply again to turn each Buffer into a string and copy each array. On a
 * read of 1,000 stream entries that is ~8,000 Buffers and ~2,000 array copies thrown away, and its
 * decoder keeps its state in down-compiled private fields (a WeakMap lookup per access): together
 * the largest CPU cost of the processor after garbage collection. This decoder gives the values
 * ioredis would have handed such a command, decoded once. `installTextReplies.ts` puts it in
 * ioredis's place for connections with the default reply mapping.
 *
 * What it yields, type by type, is what ioredis's decoder yields with its default (legacy) type
 * mapping followed by its utf8 conversion: strings for simple, blob, verbatim (without the
 * `txt:` prefix), double and big-number types; JS numbers for integers; 1/0 for booleans; null;
 * arrays for arrays, sets, pushes and maps (flat key, value, …); errors as the error classes given.
 * An error at the top level is an error reply; inside an aggregate (EXEC) it is a value.
 * test/redis/TextReplyDecoder.test.ts holds it to that against ioredis's own decoder.
 *
 * A reply whose command asks for it (`tapeWanted`, asked at the start of each reply) comes as a
 * RespTape instead: its bytes and an index of its elements, no JS value per element (RespTape.ts).
 */

import { TapeBuffers, TapeWriter } from "./RespTape.ts"
import {
  ARRAY,
  BIG_NUMBER,
  BLOB_ERROR,
  BLOB_STRING,
  BOOLEAN,
  DOUBLE,
  digits,
  LOWER_T,
  lineEnd,
  MAP,
  MINUS,
  NULL,
  NUMBER,
  PLUS,
  PUSH,
  SET,
  SIMPLE_ERROR,
  SIMPLE_STRING,
  text,
  VERBATIM_STRING,
} from "./resp.ts"

export interface TextReplyDecoderConfig {
  readonly onReply: (reply: unknown) => void
  readonly onErrorReply: (error: Error) => void
  readonly onPush: (reply: Array<unknown>) => void
  readonly simpleError: (message: string) => Error
  readonly blobError: (message: string) => Error
  /** Whether the reply about to start is to be a RespTape. */
  readonly tapeWanted?: () => boolean
}

interface Aggregate {
  readonly items: Array<unknown>
  filled: number
  readonly push: boolean
}

export class TextReplyDecoder {
  private readonly config: TextReplyDecoderConfig
  private readonly open: Array<Aggregate> = []
  /** The bytes of an element that has not fully arrived, from its type byte on. */
  private held: Array<Buffer> | undefined
  private heldBytes = 0
  /** How many bytes the held element needs in all; 0 when its header line is not complete. */
  private heldNeeds = 0
  /** Set by `element` when it returns -1: bytes the element needs, counted from its type byte. */
  private shortOf = 0
  /** A reply being read as a RespTape. */
  private tape: TapeWriter | undefined
  /** The connection's buffers for tape replies, reused from one to the next. */
  private readonly tapeBuffers = new TapeBuffers()

  constructor(config: TextReplyDecoderConfig) {
    this.config = config
  }

  reset(): void {
    this.open.length = 0
    this.held = undefined
    this.heldBytes = 0
    this.heldNeeds = 0
    this.tape = undefined
  }

  write(chunk: Buffer): void {
    let buf = chunk
    if (this.tape !== undefined) {
      const after = this.tape.feed(chunk)
      if (after === -1) return
      this.finishTape(this.tape)
      if (after === 0) return
      buf = chunk.subarray(chunk.length - after)
    } else if (this.held !== undefined) {
      this.held.push(chunk)
      this.heldBytes += chunk.length
      // A long string arriving in many chunks is joined once, when it is complete.
      if (this.heldBytes < this.heldNeeds) return
      buf = Buffer.concat(this.held, this.heldBytes)
      this.held = undefined
    }
    let at = 0
    while (at < buf.length) {
      if (this.open.length === 0 && this.startsTape(buf[at] as number)) {
        const tape = new TapeWriter(this.tapeBuffers)
        const after = tape.feed(at === 0 ? buf : buf.subarray(at))
        if (after === -1) {
          this.tape = tape
          return
        }
        this.finishTape(tape)
        at = buf.length - after
        continue
      }
      const next = this.element(buf, at)
      if (next === -1) {
        this.held = [buf.subarray(at)]
        this.heldBytes = buf.length - at
        this.heldNeeds = this.shortOf
        return
      }
      at = next
    }
  }

  /** At the start of a reply: whether it is to be a tape. An error reply stays an error, and a push
   * is not a reply at all. */
  private startsTape(type: number): boolean {
    const wanted = this.config.tapeWanted
    return wanted !== undefined && type !== SIMPLE_ERROR && type !== BLOB_ERROR && type !== PUSH && wanted()
  }

  private finishTape(writer: TapeWriter): void {
    this.tape = undefined
    this.config.onReply(writer.finish())
  }

  /** Decodes the element whose type byte is at `at`; returns where the next one starts, or -1 when
   * this one is not complete in `buf` (nothing consumed). */
  private element(buf: Buffer, at: number): number {
    const cr = lineEnd(buf, at + 1, buf.length)
    if (cr === -1) {
      this.shortOf = 0
      return -1
    }
    const next = cr + 2
    const type = buf[at]
    switch (type) {
      case BLOB_STRING:
      case VERBATIM_STRING:
      case BLOB_ERROR: {
        if (buf[at + 1] === MINUS) {
          this.value(null)
          return next
        }
        const end = next + digits(buf, at + 1, cr)
        if (end + 2 > buf.length) {
          this.shortOf = end + 2 - at
          return -1
        }
        if (type === BLOB_ERROR) this.error(this.config.blobError(text(buf, next, end)))
        else this.value(text(buf, type === VERBATIM_STRING ? next + 4 : next, end))
        return end + 2
      }
      case ARRAY:
      case SET:
      case MAP:
      case PUSH: {
        if (buf[at + 1] === MINUS) {
          this.value(null)
          return next
        }
        const count = digits(buf, at + 1, cr) * (type === MAP ? 2 : 1)
        if (count === 0) {
          if (type === PUSH && this.open.length === 0) this.config.onPush([])
          else this.value([])
        } else {
          this.open.push({ items: new Array(count), filled: 0, push: type === PUSH })
        }
        return next
      }
      case SIMPLE_STRING:
      case DOUBLE:
      case BIG_NUMBER:
        this.value(text(buf, at + 1, cr))
        return next
      case NUMBER: {
        const sign = buf[at + 1]
        if (sign === MINUS) this.value(-digits(buf, at + 2, cr))
        else this.value(digits(buf, sign === PLUS ? at + 2 : at + 1, cr))
        return next
      }
      case SIMPLE_ERROR:
        this.error(this.config.simpleError(text(buf, at + 1, cr)))
        return next
      case BOOLEAN:
        this.value(buf[at + 1] === LOWER_T ? 1 : 0)
        return next
      case NULL:
        this.value(null)
        return next
      default:
        throw new Error(`Unknown RESP type ${type} "${String.fromCharCode(type ?? 0)}"`)
    }
  }

  /** Puts a complete value into the innermost open aggregate, closing every aggregate it fills;
   * a value completed at the top level is a reply. */
  private value(value: unknown): void {
    let current = value
    for (;;) {
      const top = this.open[this.open.length - 1]
      if (top === undefined) {
        this.config.onReply(current)
        return
      }
      top.items[top.filled++] = current
      if (top.filled < top.items.length) return
      this.open.pop()
      if (top.push && this.open.length === 0) {
        this.config.onPush(top.items)
        return
      }
      current = top.items
    }
  }

  private error(error: Error): void {
    if (this.open.length === 0) this.config.onErrorReply(error)
    else this.value(error)
  }
}

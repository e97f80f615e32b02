import { Schema } from "effect"

/*
 * One class per failure so callers (the gateway's close-and-count path, tests) match on `_tag`,
 * never on message text. Offsets are relative to the start of the frame or datagram.
 */

/** The 4-byte AVL preamble is not zero (or, in data mode, the frame starts with neither 0x00 nor 0xFF). */
export class BadPreamble extends Schema.TaggedError<BadPreamble>()("BadPreamble", {
  preamble: Schema.Number,
}) {
  override get message(): string {
    return `AVL preamble 0x${hex32(this.preamble)} is not 0x00000000`
  }
}

/** A whole-buffer decode ran out of bytes before the frame's declared end. Stream decoders wait instead. */
export class Incomplete extends Schema.TaggedError<Incomplete>()("Incomplete", {
  needed: Schema.Number,
  available: Schema.Number,
}) {
  override get message(): string {
    return `frame needs ${this.needed} byte(s), only ${this.available} available`
  }
}

/** The CRC field does not match CRC-16/IBM of the data field. */
export class CrcMismatch extends Schema.TaggedError<CrcMismatch>()("CrcMismatch", {
  received: Schema.Number,
  computed: Schema.Number,
}) {
  override get message(): string {
    return `CRC field 0x${hex32(this.received)}, computed 0x${this.computed.toString(16).padStart(4, "0")}`
  }
}

/** A codec id this decoder does not handle in this context (e.g. 0x07 GH3000, or a command codec over UDP). */
export class UnsupportedCodec extends Schema.TaggedError<UnsupportedCodec>()("UnsupportedCodec", {
  codecId: Schema.Number,
}) {
  override get message(): string {
    return `unsupported codec id 0x${this.codecId.toString(16).padStart(2, "0")}`
  }
}

/** A record, element or message runs past the end of the data field / datagram. */
export class UnexpectedEnd extends Schema.TaggedError<UnexpectedEnd>()("UnexpectedEnd", {
  field: Schema.String,
  offset: Schema.Number,
  needed: Schema.Number,
  available: Schema.Number,
}) {
  override get message(): string {
    return `${this.field}: need ${this.needed} byte(s) at offset ${this.offset}, only ${this.available} left`
  }
}

/** The record (or message) count before the records differs from the one after them. */
export class RecordCountMismatch extends Schema.TaggedError<RecordCountMismatch>()("RecordCountMismatch", {
  first: Schema.Number,
  second: Schema.Number,
}) {
  override get message(): string {
    return `record count ${this.first} before the records, ${this.second} after them`
  }
}

/** A length field disagrees with the bytes actually present (trailing bytes, UDP length, message size). */
export class LengthMismatch extends Schema.TaggedError<LengthMismatch>()("LengthMismatch", {
  field: Schema.String,
  declared: Schema.Number,
  actual: Schema.Number,
}) {
  override get message(): string {
    return `${this.field} declares ${this.declared} byte(s), actual ${this.actual}`
  }
}

/** The IMEI has the wrong length or is not all decimal digits. */
export class BadImei extends Schema.TaggedError<BadImei>()("BadImei", {
  reason: Schema.String,
  length: Schema.Number,
}) {
  override get message(): string {
    return `bad IMEI (${this.reason}, length ${this.length})`
  }
}

/** Strict mode only: a record's declared total IO count differs from the elements it carries. */
export class IoCountMismatch extends Schema.TaggedError<IoCountMismatch>()("IoCountMismatch", {
  record: Schema.Number,
  declared: Schema.Number,
  parsed: Schema.Number,
}) {
  override get message(): string {
    return `record ${this.record}: IO total declares ${this.declared}, ${this.parsed} element(s) parsed`
  }
}

/** A length field announces a frame bigger than the configured maximum; refusing it bounds the buffer. */
export class FrameTooLarge extends Schema.TaggedError<FrameTooLarge>()("FrameTooLarge", {
  size: Schema.Number,
  max: Schema.Number,
}) {
  override get message(): string {
    return `frame of ${this.size} byte(s) exceeds the maximum of ${this.max}`
  }
}

/** A record timestamp above 2^53-1 ms cannot be held exactly in a number (and is ~285,000 years out anyway). */
export class BadTimestamp extends Schema.TaggedError<BadTimestamp>()("BadTimestamp", {
  hex: Schema.String,
}) {
  override get message(): string {
    return `record timestamp 0x${this.hex} exceeds 2^53-1 ms`
  }
}

export type TeltonikaCodecError =
  | BadPreamble
  | Incomplete
  | CrcMismatch
  | UnsupportedCodec
  | UnexpectedEnd
  | RecordCountMismatch
  | LengthMismatch
  | BadImei
  | IoCountMismatch
  | FrameTooLarge
  | BadTimestamp

export type TeltonikaCodecErrorTag = TeltonikaCodecError["_tag"]

/**
 * The decoders throw these internally (a thrown error unwinds a deep parse without threading results
 * through every read) and turn them into `Result` failures at the public boundary.
 */
export const isTeltonikaCodecError = (u: unknown): u is TeltonikaCodecError =>
  u instanceof BadPreamble ||
  u instanceof Incomplete ||
  u instanceof CrcMismatch ||
  u instanceof UnsupportedCodec ||
  u instanceof UnexpectedEnd ||
  u instanceof RecordCountMismatch ||
  u instanceof LengthMismatch ||
  u instanceof BadImei ||
  u instanceof IoCountMismatch ||
  u instanceof FrameTooLarge ||
  u instanceof BadTimestamp

const hex32 = (n: number): string => (n >>> 0).toString(16).padStart(8, "0")

import { toHex } from "./avl.ts"
import { BadImei, LengthMismatch, RecordCountMismatch } from "./errors.ts"
import type { Reader } from "./reader.ts"

export const CODEC_12 = 0x0c
export const CODEC_13 = 0x0d
export const CODEC_14 = 0x0e
export const CODEC_15 = 0x0f

/**
 * Command/response codecs: 12 (GPRS commands), 13 (with a 4-byte timestamp), 14 (addressed to an
 * IMEI), 15 (timestamp + IMEI, e.g. RS232 passthrough).
 */
export type MessageCodecId = typeof CODEC_12 | typeof CODEC_13 | typeof CODEC_14 | typeof CODEC_15

export const isMessageCodecId = (n: number): n is MessageCodecId => n >= CODEC_12 && n <= CODEC_15

export interface CodecMessage {
  /** 0x05 command, 0x06 response, 0x11 nACK, 0x0B/0x0D device-originated, … */
  readonly type: number
  /** The size field as sent: it counts the timestamp/IMEI prefix of codecs 13–15 too. */
  readonly size: number
  /** Codecs 13 and 15: seconds since the epoch. */
  readonly timestampS?: number
  /** Codecs 14 and 15: the IMEI, decoded from 8 BCD-style bytes with the leading pad digit removed. */
  readonly imei?: string
  /** A view into the frame. */
  readonly payload: Uint8Array
  /** The payload as text when it is all printable ASCII (plus TAB/CR/LF); absent for binary payloads. */
  readonly text?: string
}

/** Bytes the size field counts before the payload, per codec. */
const prefixLength = (codecId: MessageCodecId): number =>
  codecId === CODEC_13 ? 4 : codecId === CODEC_14 ? 8 : codecId === CODEC_15 ? 12 : 0

/** Reads `quantity1, messages, quantity2` after the codec id; the data field must end right after. */
export const readMessages = (r: Reader, codecId: MessageCodecId): Array<CodecMessage> => {
  const quantity = r.u8("command quantity 1")
  const messages: Array<CodecMessage> = []
  const prefix = prefixLength(codecId)
  for (let i = 0; i < quantity; i++) {
    const type = r.u8("message type")
    const size = r.u32("message size")
    r.need(size, "message")
    if (size < prefix) throw new LengthMismatch({ field: "message size", declared: size, actual: prefix })
    const timestampS = codecId === CODEC_13 || codecId === CODEC_15 ? r.u32("message timestamp") : undefined
    const imei = codecId === CODEC_14 || codecId === CODEC_15 ? bcdImei(r.slice(8, "message IMEI")) : undefined
    const payload = r.slice(size - prefix, "message payload")
    const text = printableText(payload)
    messages.push({
      type,
      size,
      ...(timestampS === undefined ? {} : { timestampS }),
      ...(imei === undefined ? {} : { imei }),
      payload,
      ...(text === undefined ? {} : { text }),
    })
  }
  const quantity2 = r.u8("command quantity 2")
  if (quantity2 !== quantity) throw new RecordCountMismatch({ first: quantity, second: quantity2 })
  if (r.pos !== r.end) {
    throw new LengthMismatch({ field: "message data field", declared: r.end - r.base, actual: r.pos - r.base })
  }
  return messages
}

const bcdImei = (bytes: Uint8Array): string => {
  const hex = toHex(bytes)
  for (let i = 0; i < hex.length; i++) {
    const c = hex.charCodeAt(i)
    if (c < 0x30 || c > 0x39) throw new BadImei({ reason: "non-decimal digit in 8-byte IMEI", length: 8 })
  }
  // 15 IMEI digits fill 8 bytes with one leading pad nibble.
  return hex.charCodeAt(0) === 0x30 ? hex.slice(1) : hex
}

const textDecoder = new TextDecoder()

const printableText = (bytes: Uint8Array): string | undefined => {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0
    if ((b < 0x20 || b > 0x7e) && b !== 0x09 && b !== 0x0a && b !== 0x0d) return undefined
  }
  return textDecoder.decode(bytes)
}

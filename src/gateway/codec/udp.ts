import { Result } from "effect"
import { type AvlCodecId, type AvlDecodeOptions, type AvlRecord, failure, isAvlCodecId, readAvlRecords } from "./avl.ts"
import { BadImei, LengthMismatch, type TeltonikaCodecError, UnsupportedCodec } from "./errors.ts"
import { asciiImei, IMEI_LENGTH } from "./imei.ts"
import { Reader } from "./reader.ts"

/**
 * A UDP AVL datagram: length(2) packet id(2) packet type(1) AVL packet id(1) IMEI length(2) IMEI,
 * then the AVL data field (codec, count, records, count). No preamble and no CRC: the datagram is
 * atomic, so its length field must match exactly.
 */
export interface UdpAvlDatagram {
  readonly _tag: "UdpAvl"
  /** The length field: bytes after it. */
  readonly length: number
  readonly packetId: number
  readonly packetType: number
  readonly avlPacketId: number
  readonly imei: string
  readonly codecId: AvlCodecId
  readonly records: ReadonlyArray<AvlRecord>
  /** The reply owed once every record is durably stored. */
  readonly ack: Uint8Array
  /** The datagram itself (a view, not a copy). */
  readonly raw: Uint8Array
}

export const decodeUdpDatagram = (
  bytes: Uint8Array,
  options?: AvlDecodeOptions,
): Result.Result<UdpAvlDatagram, TeltonikaCodecError> => {
  try {
    const r = new Reader(bytes, 0, 0, bytes.length)
    const length = r.u16("UDP length")
    if (length !== bytes.length - 2) {
      throw new LengthMismatch({ field: "UDP length", declared: length, actual: bytes.length - 2 })
    }
    const packetId = r.u16("packet id")
    const packetType = r.u8("packet type")
    const avlPacketId = r.u8("AVL packet id")
    const imeiLength = r.u16("IMEI length")
    // Checked before reading so a wrong length reports the IMEI, not whatever it misaligns.
    if (imeiLength !== IMEI_LENGTH) throw new BadImei({ reason: "length field", length: imeiLength })
    r.need(imeiLength, "IMEI")
    const imei = asciiImei(bytes, r.pos, imeiLength)
    r.pos += imeiLength
    const codecId = r.u8("codec id")
    if (!isAvlCodecId(codecId)) throw new UnsupportedCodec({ codecId })
    const records = readAvlRecords(r, codecId, options?.strictIoTotal === true)
    return Result.succeed({
      _tag: "UdpAvl",
      length,
      packetId,
      packetType,
      avlPacketId,
      imei,
      codecId,
      records,
      ack: udpAckFor(packetId, avlPacketId, records.length),
      raw: bytes,
    })
  } catch (e) {
    return failure(e)
  }
}

/** `0005` + packet id + `01` + AVL packet id + accepted record count (one byte). */
export const udpAckFor = (packetId: number, avlPacketId: number, recordCount: number): Uint8Array => {
  const ack = new Uint8Array(7)
  ack[1] = 0x05
  ack[2] = (packetId >>> 8) & 0xff
  ack[3] = packetId & 0xff
  ack[4] = 0x01
  ack[5] = avlPacketId & 0xff
  ack[6] = recordCount & 0xff
  return ack
}

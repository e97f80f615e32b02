import { type AvlCodecId, type AvlRecord, CODEC_8, CODEC_8E, CODEC_16, type IoElement } from "./avl.ts"
import { crc16 } from "./crc16.ts"
import { IMEI_LENGTH, isImei } from "./imei.ts"
import { CODEC_13, CODEC_14, CODEC_15, type MessageCodecId } from "./message.ts"

/*
 * Encoders for the simulator and tests. Their input is trusted program data, so a value that cannot
 * be represented (an id too big for Codec 8, an NX element outside 8E, a value wider than its field)
 * is a programming error and throws a RangeError instead of being silently truncated.
 */

/** Server reply to an IMEI login. */
export const IMEI_ACCEPT: Uint8Array = Uint8Array.of(0x01)
export const IMEI_REJECT: Uint8Array = Uint8Array.of(0x00)

/** TCP AVL acknowledgement: the number of accepted records as a 4-byte big-endian integer. */
export const ackFor = (recordCount: number): Uint8Array => {
  const ack = new Uint8Array(4)
  new DataView(ack.buffer).setUint32(0, recordCount >>> 0)
  return ack
}

export const encodePing = (): Uint8Array => Uint8Array.of(0xff)

/** IMEI login: 2-byte length + ASCII digits. */
export const encodeImei = (imei: string): Uint8Array => {
  if (!isImei(imei)) throw new RangeError(`IMEI must be ${IMEI_LENGTH} decimal digits: ${imei}`)
  const out = new Uint8Array(2 + imei.length)
  out[1] = imei.length
  for (let i = 0; i < imei.length; i++) out[2 + i] = imei.charCodeAt(i)
  return out
}

class Writer {
  readonly bytes: Uint8Array
  readonly view: DataView
  pos: number

  constructor(size: number) {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
    this.pos = 0
  }

  u8(v: number): void {
    this.view.setUint8(this.pos, v)
    this.pos += 1
  }
  u16(v: number): void {
    this.view.setUint16(this.pos, v)
    this.pos += 2
  }
  u32(v: number): void {
    this.view.setUint32(this.pos, v)
    this.pos += 4
  }
  u64(v: bigint): void {
    this.view.setBigUint64(this.pos, v)
    this.pos += 8
  }
  bytesOf(b: Uint8Array): void {
    this.bytes.set(b, this.pos)
    this.pos += b.length
  }
}

const checkInt = (v: number, min: number, max: number, what: string): void => {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} ${v} is outside [${min}, ${max}]`)
}

const U64_MAX = (1n << 64n) - 1n

/** The wire groups elements by width in this order; within a group the input order is kept. */
const WIRE_ORDER: ReadonlyArray<IoElement["width"]> = [1, 2, 4, 8, "x"]

const groupByWidth = (io: ReadonlyArray<IoElement>): Array<Array<IoElement>> =>
  WIRE_ORDER.map((w) => io.filter((el) => el.width === w))

const recordSize = (codecId: AvlCodecId, groups: Array<Array<IoElement>>): number => {
  const idWidth = codecId === CODEC_8 ? 1 : 2
  let size = 8 + 1 + 15
  size += codecId === CODEC_8 ? 2 + 4 : codecId === CODEC_8E ? 4 + 8 + 2 : 4 + 4
  for (const group of groups) {
    for (const el of group) size += el.width === "x" ? 4 + el.bytes.length : idWidth + el.width
  }
  return size
}

const writeRecord = (w: Writer, codecId: AvlCodecId, record: AvlRecord, groups: Array<Array<IoElement>>): void => {
  const wide = codecId !== CODEC_8
  const countMax = codecId === CODEC_8E ? 0xffff : 0xff
  const idMax = wide ? 0xffff : 0xff
  checkInt(record.timestampMs, 0, Number.MAX_SAFE_INTEGER, "timestampMs")
  checkInt(record.priority, 0, 0xff, "priority")
  checkInt(record.longitude, -0x8000_0000, 0x7fff_ffff, "longitude")
  checkInt(record.latitude, -0x8000_0000, 0x7fff_ffff, "latitude")
  checkInt(record.altitude, -0x8000, 0x7fff, "altitude")
  checkInt(record.angle, 0, 0xffff, "angle")
  checkInt(record.satellites, 0, 0xff, "satellites")
  checkInt(record.speed, 0, 0xffff, "speed")
  checkInt(record.eventIoId, 0, idMax, "eventIoId")
  checkInt(record.io.length, 0, countMax, "IO total count")

  w.u32(Math.floor(record.timestampMs / 0x1_0000_0000))
  w.u32(record.timestampMs % 0x1_0000_0000)
  w.u8(record.priority)
  w.view.setInt32(w.pos, record.longitude)
  w.view.setInt32(w.pos + 4, record.latitude)
  w.view.setInt16(w.pos + 8, record.altitude)
  w.view.setUint16(w.pos + 10, record.angle)
  w.view.setUint8(w.pos + 12, record.satellites)
  w.view.setUint16(w.pos + 13, record.speed)
  w.pos += 15

  if (codecId === CODEC_8) {
    w.u8(record.eventIoId)
    w.u8(record.io.length)
  } else if (codecId === CODEC_8E) {
    w.u16(record.eventIoId)
    w.u16(record.io.length)
  } else {
    if (record.generationType === undefined) throw new RangeError("Codec 16 records need a generationType")
    checkInt(record.generationType, 0, 0xff, "generationType")
    w.u16(record.eventIoId)
    w.u8(record.generationType)
    w.u8(record.io.length)
  }

  for (let g = 0; g < 4; g++) {
    const group = groups[g] ?? []
    checkInt(group.length, 0, countMax, "IO group count")
    if (codecId === CODEC_8E) w.u16(group.length)
    else w.u8(group.length)
    for (const el of group) {
      checkInt(el.id, 0, idMax, "IO id")
      if (wide) w.u16(el.id)
      else w.u8(el.id)
      switch (el.width) {
        case 1:
          checkInt(el.value, 0, 0xff, "IO value")
          w.u8(el.value)
          break
        case 2:
          checkInt(el.value, 0, 0xffff, "IO value")
          w.u16(el.value)
          break
        case 4:
          checkInt(el.value, 0, 0xffff_ffff, "IO value")
          w.u32(el.value)
          break
        case 8:
          if (el.value < 0n || el.value > U64_MAX) throw new RangeError(`IO value ${el.value} is outside u64`)
          w.u64(el.value)
          break
      }
    }
  }
  const nx = groups[4] ?? []
  if (codecId !== CODEC_8E) {
    if (nx.length > 0) throw new RangeError("variable-length (NX) IO elements exist only in Codec 8 Extended")
    return
  }
  w.u16(nx.length)
  for (const el of nx) {
    if (el.width !== "x") continue
    checkInt(el.id, 0, 0xffff, "IO id")
    checkInt(el.bytes.length, 0, 0xffff, "NX length")
    w.u16(el.id)
    w.u16(el.bytes.length)
    w.bytesOf(el.bytes)
  }
}

const avlDataSize = (codecId: AvlCodecId, grouped: ReadonlyArray<Array<Array<IoElement>>>): number => {
  let size = 3
  for (const groups of grouped) size += recordSize(codecId, groups)
  return size
}

const writeAvlData = (
  w: Writer,
  codecId: AvlCodecId,
  records: ReadonlyArray<AvlRecord>,
  grouped: ReadonlyArray<Array<Array<IoElement>>>,
): void => {
  checkInt(records.length, 0, 0xff, "record count")
  w.u8(codecId)
  w.u8(records.length)
  for (let i = 0; i < records.length; i++) {
    const record = records[i]
    if (record !== undefined) writeRecord(w, codecId, record, grouped[i] ?? [])
  }
  w.u8(records.length)
}

const checkCodec = (codecId: number): void => {
  if (codecId !== CODEC_8 && codecId !== CODEC_8E && codecId !== CODEC_16) {
    throw new RangeError(`not an AVL codec: 0x${codecId.toString(16)}`)
  }
}

/** The bare AVL data field (what the TCP CRC covers and what follows the UDP header). */
export const encodeAvlData = (codecId: AvlCodecId, records: ReadonlyArray<AvlRecord>): Uint8Array => {
  checkCodec(codecId)
  const grouped = records.map((r) => groupByWidth(r.io))
  const w = new Writer(avlDataSize(codecId, grouped))
  writeAvlData(w, codecId, records, grouped)
  return w.bytes
}

/** A complete TCP AVL packet: zero preamble, data length, data field, CRC-16/IBM. */
export const encodeTcpAvl = (codecId: AvlCodecId, records: ReadonlyArray<AvlRecord>): Uint8Array =>
  wrapTcp(encodeAvlData(codecId, records))

const wrapTcp = (data: Uint8Array): Uint8Array => {
  const w = new Writer(8 + data.length + 4)
  w.u32(0)
  w.u32(data.length)
  w.bytesOf(data)
  w.u32(crc16(data))
  return w.bytes
}

export interface UdpAvlInput {
  readonly packetId: number
  /** Defaults to 0x01, the only value devices send. */
  readonly packetType?: number
  readonly avlPacketId: number
  readonly imei: string
  readonly codecId: AvlCodecId
  readonly records: ReadonlyArray<AvlRecord>
}

export const encodeUdpAvl = (input: UdpAvlInput): Uint8Array => {
  if (!isImei(input.imei)) throw new RangeError(`IMEI must be ${IMEI_LENGTH} decimal digits: ${input.imei}`)
  checkInt(input.packetId, 0, 0xffff, "packetId")
  checkInt(input.avlPacketId, 0, 0xff, "avlPacketId")
  const packetType = input.packetType ?? 0x01
  checkInt(packetType, 0, 0xff, "packetType")
  const data = encodeAvlData(input.codecId, input.records)
  const length = 2 + 1 + 1 + 2 + IMEI_LENGTH + data.length
  checkInt(length, 0, 0xffff, "UDP length")
  const w = new Writer(2 + length)
  w.u16(length)
  w.u16(input.packetId)
  w.u8(packetType)
  w.u8(input.avlPacketId)
  w.u16(IMEI_LENGTH)
  for (let i = 0; i < IMEI_LENGTH; i++) w.u8(input.imei.charCodeAt(i))
  w.bytesOf(data)
  return w.bytes
}

export interface MessageInput {
  readonly type: number
  /** Codecs 13 and 15. */
  readonly timestampS?: number
  /** Codecs 14 and 15. */
  readonly imei?: string
  readonly payload: Uint8Array
}

/** A TCP Codec 12–15 frame (e.g. a Codec 12 command to a device), one or more messages. */
export const encodeTcpMessages = (codecId: MessageCodecId, messages: ReadonlyArray<MessageInput>): Uint8Array => {
  if (codecId < 0x0c || codecId > 0x0f) throw new RangeError(`not a message codec: 0x${codecId.toString(16)}`)
  checkInt(messages.length, 1, 0xff, "message quantity")
  const hasTs = codecId === CODEC_13 || codecId === CODEC_15
  const hasImei = codecId === CODEC_14 || codecId === CODEC_15
  const prefix = (hasTs ? 4 : 0) + (hasImei ? 8 : 0)
  let size = 3
  for (const m of messages) size += 5 + prefix + m.payload.length
  const w = new Writer(size)
  w.u8(codecId)
  w.u8(messages.length)
  for (const m of messages) {
    checkInt(m.type, 0, 0xff, "message type")
    w.u8(m.type)
    w.u32(prefix + m.payload.length)
    if (hasTs) {
      if (m.timestampS === undefined) throw new RangeError(`codec 0x${codecId.toString(16)} messages need timestampS`)
      checkInt(m.timestampS, 0, 0xffff_ffff, "timestampS")
      w.u32(m.timestampS)
    }
    if (hasImei) {
      if (m.imei === undefined || !isImei(m.imei)) {
        throw new RangeError(`codec 0x${codecId.toString(16)} messages need a ${IMEI_LENGTH}-digit imei`)
      }
      // 15 digits packed two per byte behind one zero pad nibble.
      const digits = `0${m.imei}`
      for (let i = 0; i < 16; i += 2) w.u8(Number.parseInt(digits.slice(i, i + 2), 16))
    }
    w.bytesOf(m.payload)
  }
  w.u8(messages.length)
  return wrapTcp(w.bytes)
}

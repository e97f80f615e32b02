/**
 * Loads the shared Teltonika hex corpus and maps decoded frames into the corpus's vocabulary so a
 * test compares whole structures instead of field by field.
 */
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import {
  type AvlRecord,
  type CodecMessage,
  IMEI_ACCEPT,
  IMEI_REJECT,
  ioHex,
  ioValue,
  type TcpFrame,
  toHex,
  type UdpAvlDatagram,
} from "../../../src/gateway/codec/index.ts"

export interface Vector {
  readonly id: string
  readonly transport: "tcp" | "udp"
  readonly codec: string
  readonly hex: string
  readonly notes?: string
  readonly tags?: ReadonlyArray<string>
  readonly options?: { readonly stream?: boolean; readonly n16?: boolean; readonly strict_io_total?: boolean }
  readonly expect?: Record<string, unknown>
  readonly error?: string
  readonly acceptable_errors?: ReadonlyArray<string>
}

/** A copy of the protocol test vectors (test/fixtures/teltonika-vectors.README.md says what they are),
 * kept in the repository so the corpus runs wherever the tests run. */
export const VECTORS_URL = new URL("../../fixtures/teltonika-vectors.json", import.meta.url)
export const VECTORS_PATH = fileURLToPath(VECTORS_URL)

export const loadVectors = (): ReadonlyArray<Vector> =>
  JSON.parse(readFileSync(VECTORS_PATH, "utf8")) as ReadonlyArray<Vector>

export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"))

/** Error names in the corpus are the decoder's `_tag`s; `acceptable_errors` widens the match. */
export const acceptedErrors = (v: Vector): ReadonlyArray<string> =>
  v.error === undefined ? [] : [v.error, ...(v.acceptable_errors ?? [])]

const codecName = (id: number): string => (id === 0x8e ? "8E" : String(id))
const hex4 = (n: number): string => n.toString(16).padStart(4, "0")

export const recordShape = (r: AvlRecord): Record<string, unknown> => ({
  timestamp_ms: r.timestampMs,
  priority: r.priority,
  longitude: r.longitude,
  latitude: r.latitude,
  altitude: r.altitude,
  angle: r.angle,
  satellites: r.satellites,
  speed: r.speed,
  event_io_id: r.eventIoId,
  ...(r.generationType === undefined ? {} : { generation_type: r.generationType }),
  io: r.io.map((el) =>
    el.width === "x"
      ? { id: el.id, width: "x", len: el.bytes.length, hex: ioHex(el) }
      : { id: el.id, width: el.width, hex: ioHex(el), uint: ioValue(el) },
  ),
  io_count_parsed: r.io.length,
})

const messageShape = (m: CodecMessage): Record<string, unknown> => ({
  type: m.type,
  size: m.size,
  ...(m.timestampS === undefined ? {} : { timestamp_s: m.timestampS }),
  ...(m.imei === undefined ? {} : { imei: m.imei }),
  payload_hex: toHex(m.payload),
  ...(m.text === undefined ? {} : { text: m.text }),
})

export const frameShape = (f: TcpFrame | UdpAvlDatagram): Record<string, unknown> => {
  switch (f._tag) {
    case "Ping":
      return { frame: "ping" }
    case "Imei":
      return {
        frame: "imei",
        imei_length: f.raw.length - 2,
        imei: f.imei,
        reply_accept_hex: toHex(IMEI_ACCEPT),
        reply_reject_hex: toHex(IMEI_REJECT),
      }
    case "Avl":
      return {
        frame: "avl",
        data_length: f.dataLength,
        codec_id: f.codecId,
        codec: codecName(f.codecId),
        record_count: f.records.length,
        records: f.records.map(recordShape),
        crc: hex4(f.crc),
        ack_hex: toHex(f.ack),
      }
    case "Message":
      return {
        frame: "message",
        data_length: f.dataLength,
        codec_id: f.codecId,
        codec: codecName(f.codecId),
        record_count: f.messages.length,
        messages: f.messages.map(messageShape),
        crc: hex4(f.crc),
      }
    case "UdpAvl":
      return {
        frame: "avl",
        udp: {
          length: f.length,
          packet_id: f.packetId,
          packet_type: f.packetType,
          avl_packet_id: f.avlPacketId,
          imei: f.imei,
        },
        codec_id: f.codecId,
        codec: codecName(f.codecId),
        record_count: f.records.length,
        records: f.records.map(recordShape),
        ack_hex: toHex(f.ack),
      }
  }
}

/** Keys of an expected record that are derived views, checked separately rather than compared. */
export const DERIVED_RECORD_KEYS = ["timestamp_iso", "lon_deg", "lat_deg", "io_total_declared", "record_bytes"]

const asRecord = (u: unknown): Record<string, unknown> => u as Record<string, unknown>

/**
 * The expected frame without derived record keys, and with 64-bit `uint` strings as bigint (the
 * decoder's `ioValue` yields a bigint exactly when the corpus has to use a string).
 */
export const comparableExpect = (expected: Record<string, unknown>): Record<string, unknown> => {
  const records = expected.records
  if (!Array.isArray(records)) return expected
  return {
    ...expected,
    records: records.map((rec) => {
      const out: Record<string, unknown> = { ...asRecord(rec) }
      for (const k of DERIVED_RECORD_KEYS) delete out[k]
      const io = out.io
      if (Array.isArray(io)) {
        out.io = io.map((el) => {
          const e = asRecord(el)
          return typeof e.uint === "string" ? { ...e, uint: BigInt(e.uint) } : e
        })
      }
      return out
    }),
  }
}

export const expectedFrames = (v: Vector): ReadonlyArray<Record<string, unknown>> => {
  const e = v.expect ?? {}
  const frames = e.frames
  return Array.isArray(frames) ? frames.map(asRecord) : [e]
}

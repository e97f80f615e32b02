import type { AvlRecord } from "./codec/index.ts"

/** How a record reached the gateway; it becomes the entry's `source` field. */
export type Transport = "tcp" | "udp"

export const SOURCE: Readonly<Record<Transport, string>> = { tcp: "teltonika-tcp", udp: "teltonika-udp" }

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

const base64 = (bytes: Uint8Array): string =>
  // A Buffer view over the same memory: no copy of the frame's bytes.
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/**
 * The `payload` JSON of SPEC §3.1/§5 for one AVL record.
 *
 * Built by concatenation rather than `JSON.stringify` of an object: this runs once per record on
 * the ingest path, and every piece is either a number, a base64/decimal string or the quoted IMEI,
 * none of which need escaping beyond what `JSON.stringify(imei)` does. IO elements keep wire
 * order; should a device repeat an IO id, the JSON keeps both and every JSON reader (and jsonb)
 * takes the last, as assigning them to an object would.
 */
export const toPayloadJson = (record: AvlRecord, imei: string): string => {
  let attributes = ""
  const io = record.io
  for (let i = 0; i < io.length; i++) {
    const el = io[i]
    if (el === undefined) continue
    let value: string
    if (el.width === "x") value = `{"$bytes":"${base64(el.bytes)}"}`
    else if (el.width === 8) value = el.value <= MAX_SAFE ? String(Number(el.value)) : `{"$bigint":"${el.value}"}`
    else value = String(el.value)
    attributes += `${attributes === "" ? "" : ","}"${el.id}":${value}`
  }
  if (record.generationType !== undefined) {
    attributes += `${attributes === "" ? "" : ","}"generation_type":${record.generationType}`
  }
  return (
    `{"device_id":${JSON.stringify(imei)},"ts":${record.timestampMs}` +
    `,"lat":${record.latitude / 1e7},"lon":${record.longitude / 1e7}` +
    `,"altitude":${record.altitude},"angle":${record.angle},"speed":${record.speed}` +
    `,"satellites":${record.satellites},"priority":${record.priority},"event_id":${record.eventIoId}` +
    `,"attributes":{${attributes}}}`
  )
}

/**
 * The stream entry's field/value list for one record: what follows `XADD <key> [MAXLEN ~ n] *`.
 * `receivedAtMs` is when the frame carrying the record arrived, the same for all its records.
 */
export const toEntry = (record: AvlRecord, imei: string, transport: Transport, receivedAtMs: number): Array<string> => [
  "payload",
  toPayloadJson(record, imei),
  "received_at",
  String(receivedAtMs),
  "source",
  SOURCE[transport],
]

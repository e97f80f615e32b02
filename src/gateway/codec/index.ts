/**
 * Teltonika protocol codec: pure bytes-in / frames-or-typed-errors-out, no I/O and no Effect runtime
 * on the hot path. Decoders return `Result`s whose failures are `Schema.TaggedError`s, so they can be
 * yielded in Effect code as they are.
 *
 * Typical TCP connection loop (the connection state machine belongs to the gateway):
 *
 *   const decoder = new TcpFrameDecoder({ maxFrameSize })
 *   socket.on("data", (chunk) => {
 *     decoder.push(chunk)
 *     for (let r = decoder.next(phase); r !== undefined; r = decoder.next(phase)) {
 *       if (Result.isFailure(r)) return closeAndCount(r.failure._tag)
 *       handle(r.success) // Imei → reply IMEI_ACCEPT/IMEI_REJECT, Avl → store records, then write r.success.ack
 *     }
 *   })
 */
export {
  type AvlCodecId,
  type AvlData,
  type AvlDecodeOptions,
  type AvlRecord,
  CODEC_8,
  CODEC_8E,
  CODEC_16,
  decodeAvlData,
  type IoElement,
  type IoWidth,
  ioHex,
  ioValue,
  isAvlCodecId,
  toHex,
} from "./avl.ts"
export * from "./crc16.ts"
export * from "./encode.ts"
export * from "./errors.ts"
export { asciiImei, IMEI_LENGTH, isImei } from "./imei.ts"
export {
  CODEC_12,
  CODEC_13,
  CODEC_14,
  CODEC_15,
  type CodecMessage,
  isMessageCodecId,
  type MessageCodecId,
} from "./message.ts"
export * from "./tcp.ts"
export * from "./udp.ts"

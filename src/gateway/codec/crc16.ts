/**
 * CRC-16/IBM (a.k.a. CRC-16/ARC): reflected polynomial 0xA001, initial value 0, no final XOR.
 * Teltonika computes it over the AVL data field only (codec id through the second record count).
 */

const TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1
    table[i] = c
  }
  return table
})()

/** CRC-16/IBM of `bytes[start, end)`. */
export const crc16 = (bytes: Uint8Array, start = 0, end: number = bytes.length): number => {
  let crc = 0
  for (let i = start; i < end; i++) {
    // `?? 0` only satisfies noUncheckedIndexedAccess: both indexes are always in range.
    crc = (crc >>> 8) ^ (TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0)
  }
  return crc
}

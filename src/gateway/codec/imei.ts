import { BadImei } from "./errors.ts"

/** Teltonika IMEIs are always 15 decimal digits, both in the TCP login and in the UDP header. */
export const IMEI_LENGTH = 15

/** Validates `len` ASCII decimal digits at `start` and returns them as a string. */
export const asciiImei = (buf: Uint8Array, start: number, len: number): string => {
  if (len !== IMEI_LENGTH) throw new BadImei({ reason: "length field", length: len })
  let imei = ""
  for (let i = start; i < start + len; i++) {
    const c = buf[i] ?? 0
    if (c < 0x30 || c > 0x39) throw new BadImei({ reason: "non-digit character", length: len })
    imei += String.fromCharCode(c)
  }
  return imei
}

export const isImei = (s: string): boolean => s.length === IMEI_LENGTH && /^[0-9]+$/.test(s)

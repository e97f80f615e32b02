import { UnexpectedEnd } from "./errors.ts"

/**
 * Bounds-checked big-endian reader over one frame. Every read names its field so an overrun reports
 * what ran out; `end` is the end of the region being parsed (the data field, not the buffer), so a
 * record can never silently read the CRC or the next frame.
 */
export class Reader {
  readonly bytes: Uint8Array
  readonly view: DataView
  /** Absolute index of the frame start; error offsets are reported relative to it. */
  readonly base: number
  pos: number
  end: number

  constructor(bytes: Uint8Array, base: number, pos: number, end: number) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.base = base
    this.pos = pos
    this.end = end
  }

  need(n: number, field: string): void {
    if (this.end - this.pos < n) {
      throw new UnexpectedEnd({
        field,
        offset: this.pos - this.base,
        needed: n,
        available: Math.max(0, this.end - this.pos),
      })
    }
  }

  u8(field: string): number {
    this.need(1, field)
    return this.view.getUint8(this.pos++)
  }

  u16(field: string): number {
    this.need(2, field)
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }

  u32(field: string): number {
    this.need(4, field)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  u64(field: string): bigint {
    this.need(8, field)
    const v = this.view.getBigUint64(this.pos)
    this.pos += 8
    return v
  }

  /** A view (not a copy) of the next `n` bytes. */
  slice(n: number, field: string): Uint8Array {
    this.need(n, field)
    const s = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return s
  }
}

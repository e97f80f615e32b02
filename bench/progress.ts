/** Live progress: one status line rewritten in place on a terminal, one line a second otherwise. */

const tty = process.stdout.isTTY === true
let open = false

export const status = (text: string): void => {
  if (tty) {
    process.stdout.write(`\r\x1b[K${text}`)
    open = true
  } else process.stdout.write(`${text}\n`)
}

/** A permanent line (ends any status line first). */
export const say = (text: string): void => {
  if (open) {
    process.stdout.write("\n")
    open = false
  }
  process.stdout.write(`${text}\n`)
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US")

export const fmtNum = (n: number, digits = 1): string =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })

export const mb = (bytes: number): number => bytes / 1_000_000

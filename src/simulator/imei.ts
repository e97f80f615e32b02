/**
 * 15-digit IMEIs as real devices carry them: an 8-digit type allocation code (TAC), a 6-digit serial
 * and a Luhn check digit, so anything that validates IMEIs accepts the simulated ones.
 */

/** TACs of Teltonika-like trackers; each gives a million serials. */
const TACS = ["35630704", "35209310", "86405905", "35404906"] as const

export const MAX_SIMULATED_DEVICES = TACS.length * 1_000_000

export const luhnDigit = (digits: string): number => {
  let sum = 0
  // Doubling starts from the rightmost digit of the body (the one next to the check digit).
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48
    if (i % 2 === 0) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return (10 - (sum % 10)) % 10
}

export const isLuhnValid = (imei: string): boolean =>
  /^\d+$/.test(imei) && luhnDigit(imei.slice(0, -1)) === Number(imei.at(-1))

/**
 * The `index`-th IMEI of a fleet. `offset` (from the run's seed) shifts the serial range so fleets
 * with different seeds do not share devices; indexes below a million per TAC never collide.
 */
export const simulatedImei = (index: number, offset = 0): string => {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SIMULATED_DEVICES) {
    throw new RangeError(`device index ${index} is outside [0, ${MAX_SIMULATED_DEVICES})`)
  }
  const tac = TACS[Math.floor(index / 1_000_000)] as string
  const serial = String(((index % 1_000_000) + (offset >>> 0)) % 1_000_000).padStart(6, "0")
  const body = tac + serial
  return body + String(luhnDigit(body))
}

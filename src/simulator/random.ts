/** Seeded PRNG (mulberry32): a fleet run is reproducible from its seed (IMEIs, routes, batching). */
export interface Random {
  /** Uniform in [0, 1). */
  readonly next: () => number
}

export const makeRandom = (seed: number): Random => {
  let a = seed >>> 0
  return {
    next: () => {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
    },
  }
}

/** Uniform in [min, max). */
export const uniform = (random: Random, min: number, max: number): number => min + random.next() * (max - min)

/** Uniform integer in [min, max]. */
export const intBetween = (random: Random, min: number, max: number): number =>
  min + Math.floor(random.next() * (max - min + 1))

export const chance = (random: Random, p: number): boolean => random.next() < p

/** Seeds derived from one seed for independent streams (one per device). */
export const deriveSeed = (seed: number, index: number): number =>
  Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ (index + 1)

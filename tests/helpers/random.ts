/**
 * Seeded randomness for test data: the seed is printed once, and
 * `TEST_SEED=<seed> npm test` replays the same choices.
 */
const seed = Number(process.env.TEST_SEED) || Date.now() % 2 ** 31
console.log(`test seed ${seed} (replay: TEST_SEED=${seed} npm test)`)

/** mulberry32: small, fast, and good enough to pick test data. */
let state = seed >>> 0
export function random(): number {
  state = (state + 0x6d2b79f5) >>> 0
  let t = state
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
}

/** A whole number from 0 to n - 1. */
export const randomInt = (n: number): number => Math.floor(random() * n)

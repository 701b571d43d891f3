/** Durations kept per bcrypt cost. */
const KEPT = 8

/**
 * How long bcrypt comparisons took lately, per cost. A check decided without bcrypt (an unknown
 * user, or a user whose password is known already) is answered after one of these durations, so
 * the time of a 401 tells neither which user names exist nor which passwords were tried before.
 */
export class ComparisonTimes {
  readonly #times = new Map<number, number[]>()

  record (cost: number, ms: number): void {
    const times = this.#times.get(cost) ?? []
    if (times.length >= KEPT) times.shift()
    times.push(ms)
    this.#times.set(cost, times)
  }

  /** One of the recent durations at `cost`, at random, or undefined when none was timed yet. */
  sample (cost: number): number | undefined {
    const times = this.#times.get(cost)
    return times?.[Math.floor(Math.random() * times.length)]
  }
}

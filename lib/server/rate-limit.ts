import type { RateLimit } from './web-config.js'

/**
 * exporter-toolkit's `rate_limit`: golang.org/x/time/rate's `Limiter.Allow` with one token every
 * `intervalMs` and room for `burst`. The bucket starts full, as Go's does. (npm's token buckets
 * start empty or wait for tokens; this is the whole of what is needed.)
 */
export class TokenBucket {
  #tokens: number
  #last: number

  constructor (readonly limit: RateLimit, private readonly now: () => number = performance.now.bind(performance)) {
    this.#tokens = limit.burst
    this.#last = now()
  }

  /** Takes a token if there is one. */
  take (): boolean {
    const now = this.now()
    this.#tokens = Math.min(this.limit.burst, this.#tokens + (now - this.#last) / this.limit.intervalMs)
    this.#last = now
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}

import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import type { ScrapeCode, ScrapeStats } from './collectors/scrapes.js'
import { Coalescer } from './coalescer.js'
import { OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, encode, negotiate, render, type Negotiated } from './exposition.js'

export interface ScrapeLimits {
  scrapeTimeout: number
  maxScrapesInFlight: number
  /** The text format whatever the client prefers (GitLab Runner's names cannot be OpenMetrics). */
  textOnly?: boolean
}

class ScrapeTimeout extends Error {}
class ScrapeAbandoned extends Error {}

/**
 * How long scrapes in flight when the app closes get to finish (the default scrape timeout):
 * they are answered as usual, unless they take longer, as a hung collection with a long
 * `scrapeTimeout` would; then they get 503, so none holds the close or keeps a timer alive.
 */
export const CLOSE_GRACE_MS = 5000

/** Waits for work for at most `ms`, and no longer than until `abandonAfter()` gives up on it. */
class BoundedWaits {
  readonly #waiting = new Set<(error: Error) => void>()
  /** Called when the last wait settles, while `abandonAfter` waits for that. */
  #onIdle: (() => void) | undefined

  /** Resolves as `work` does, or rejects with ScrapeTimeout after `ms`; the timer never outlives it. */
  async wait<T> (work: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    let cutOff!: (error: Error) => void
    const limit = new Promise<never>((resolve, reject) => {
      cutOff = reject
      timer = setTimeout(() => reject(new ScrapeTimeout()), ms)
    })
    this.#waiting.add(cutOff)
    try {
      return await Promise.race([work, limit])
    } finally {
      clearTimeout(timer)
      this.#waiting.delete(cutOff)
      if (this.#waiting.size === 0) this.#onIdle?.()
    }
  }

  /** Lets the waits in progress settle for at most `ms`; those still waiting then reject with ScrapeAbandoned. */
  async abandonAfter (ms: number): Promise<void> {
    if (this.#waiting.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms)
        this.#onIdle = () => { clearTimeout(timer); resolve() }
      })
      this.#onIdle = undefined
    }
    for (const cutOff of this.#waiting) cutOff(new ScrapeAbandoned())
  }
}

function firstLine (error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n', 1)[0]!
}

export interface ScrapeResult {
  status: ScrapeCode
  headers: Record<string, string>
  body: string | Buffer
}

const VARY = 'Accept, Accept-Encoding'
/** The headers of a 200, built once for each format and encoding, by `${contentType} ${gzip}`. */
const OK_HEADERS = new Map<string, Record<string, string>>(([TEXT_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE] as const).flatMap((contentType) => [
  [`${contentType} false`, { 'content-type': contentType, vary: VARY }],
  [`${contentType} true`, { 'content-type': contentType, vary: VARY, 'content-encoding': 'gzip' }]
]))

export interface Scraper {
  scrape: (headers: FastifyRequest['headers']) => Promise<ScrapeResult>
  /** Lets scrapes in flight finish for up to CLOSE_GRACE_MS, then answers those still waiting 503. */
  abandon: () => Promise<void>
}

/**
 * From a registry and request headers to what the metrics endpoint answers: the format and
 * encoding the client prefers, 500 for a collector that fails, 503 when scrapes pile up or hang.
 */
export function createScraper (registry: Registry, stats: ScrapeStats, limits: ScrapeLimits, log: FastifyBaseLogger): Scraper {
  const plain = { 'content-type': 'text/plain; charset=utf-8' }
  const bodies = new Coalescer<string, string | Buffer>()
  const waits = new BoundedWaits()
  /** One collection and encoding for all the scrapes that want the same body at the same time. */
  const collect = async (contentType: Negotiated['contentType'], gzip: boolean): Promise<string | Buffer> => {
    try {
      // Rendering is synchronous, so scrapes read from the network in one turn of the event loop
      // would each render in turn; starting at the turn's check phase lets them all share one.
      await new Promise((resolve) => setImmediate(resolve))
      return await encode(await render(registry, contentType), gzip)
    } catch (error) {
      log.error({ err: error }, `metrics scrape failed: ${firstLine(error)}`)
      throw error
    }
  }
  async function scrape (headers: FastifyRequest['headers']): Promise<ScrapeResult> {
    if (limits.maxScrapesInFlight > 0 && stats.inFlight >= limits.maxScrapesInFlight) {
      stats.count(503)
      return { status: 503, headers: plain, body: `too many concurrent scrapes: at most ${limits.maxScrapesInFlight} are served at once\n` }
    }
    stats.inFlight++
    const negotiated = negotiate(headers)
    const contentType = limits.textOnly === true ? TEXT_CONTENT_TYPE : negotiated.contentType
    const { gzip } = negotiated
    const key = `${contentType} ${gzip}`
    let result: ScrapeResult
    try {
      const body = await waits.wait(bodies.run(key, async () => await collect(contentType, gzip)), limits.scrapeTimeout)
      result = { status: 200, headers: OK_HEADERS.get(key)!, body }
    } catch (error) {
      if (error instanceof ScrapeTimeout) {
        // A hung collection is shared no further: the next scrape tries afresh.
        bodies.abandon(key)
        log.warn(`metrics scrape timed out after ${limits.scrapeTimeout} ms`)
        result = { status: 503, headers: plain, body: `scrape timed out after ${limits.scrapeTimeout} ms\n` }
      } else if (error instanceof ScrapeAbandoned) {
        bodies.abandon(key)
        result = { status: 503, headers: plain, body: 'the server is closing: scrape abandoned\n' }
      } else {
        result = { status: 500, headers: plain, body: `error gathering metrics: ${firstLine(error)}\n` }
      }
    } finally {
      stats.inFlight--
    }
    stats.count(result.status)
    return result
  }
  return { scrape, abandon: async () => await waits.abandonAfter(CLOSE_GRACE_MS) }
}

export function sendScrape (reply: FastifyReply, result: ScrapeResult): FastifyReply {
  return reply.code(result.status).headers(result.headers).send(result.body)
}

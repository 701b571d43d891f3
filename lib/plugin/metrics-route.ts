import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import type { ScrapeCode, ScrapeStats } from './collectors/scrapes.js'
import { Coalescer, atCheckPhase } from './coalescer.js'
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
 * How long scrapes get to finish once the app begins closing (the default scrape timeout): those
 * in flight then, and those the host's hooks let through later. They are answered as usual,
 * unless they take longer, as a hung collection with a long `scrapeTimeout` would; then they
 * get 503, so none holds the close or keeps a timer alive.
 */
export const CLOSE_GRACE_MS = 5000

/**
 * Waits for work for at most `ms`, and, once the app is closing (`abandonAfter()`), no longer
 * than its grace: a scrape the host's own hooks held until after the close began waits no longer
 * than one that was waiting then.
 */
class BoundedWaits {
  readonly #waiting = new Set<(error: Error) => void>()
  /** Called when the last wait settles, while `abandonAfter` waits for that. */
  #onIdle: (() => void) | undefined
  /** When the close grace ends, once the app is closing. */
  #graceEnds: number | undefined

  /** Resolves as `work` does, or rejects with ScrapeTimeout after `ms` (ScrapeAbandoned at the grace's end); the timer never outlives it. */
  async wait<T> (work: Promise<T>, ms: number): Promise<T> {
    const grace = this.#graceEnds === undefined ? Infinity : Math.max(0, this.#graceEnds - performance.now())
    let timer: NodeJS.Timeout | undefined
    let cutOff!: (error: Error) => void
    const limit = new Promise<never>((resolve, reject) => {
      cutOff = reject
      timer = grace < ms ? setTimeout(() => reject(new ScrapeAbandoned()), grace) : setTimeout(() => reject(new ScrapeTimeout()), ms)
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

  /** Lets the waits in progress, and any begun from now on, settle for at most `ms`; those still waiting then reject with ScrapeAbandoned. */
  async abandonAfter (ms: number): Promise<void> {
    this.#graceEnds = performance.now() + ms
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
  /**
   * What to answer a scrape with `headers`, arrived on `connection` (see connectionOf; undefined
   * where scrapes cannot be told apart by it): at once when it is rendered on the spot.
   */
  scrape: (headers: FastifyRequest['headers'], connection?: object) => ScrapeResult | Promise<ScrapeResult>
  /** Lets scrapes in flight finish for up to CLOSE_GRACE_MS, then answers those still waiting 503. */
  abandon: () => Promise<void>
}

/**
 * The connection a request came on, where it can tell scrapes apart: a plain HTTP/1 socket.
 * HTTP/2 streams share their session's socket. Over TLS, Node hands the parser each record in
 * a callback of its own, and an answer written between two records of a pipelined packet can
 * make Node pause the parser mid-packet and drop the connection (HPE_PAUSED): TLS scrapes
 * always wait for the check phase, when the packet has been parsed.
 */
export function connectionOf (request: IncomingMessage | Http2ServerRequest): object | undefined {
  // A server of the app's own making (Fastify's serverFactory) may hand over no socket at all.
  const socket = request.socket as (Socket & { encrypted?: boolean }) | null | undefined
  return request.httpVersionMajor === 1 && socket != null && socket.encrypted !== true ? socket : undefined
}

/**
 * Tells which scrapes may be rendered on the spot. Scrapes read from the network in one turn of
 * the event loop should share one rendering, so a scrape normally waits for the turn's check
 * phase before rendering (setImmediate). That wait and its promises cost a scrape about a tenth
 * of its CPU, and a scrape on the same connection as the scrape before it is Prometheus'
 * way (one keep-alive connection, one request at a time): it is rendered at once, unless a scrape
 * was already rendered at once in this turn. So requests pipelined on one connection, however
 * the host's hooks spread them over the turn, cost at most one rendering at once and one shared
 * one per turn.
 */
class Company {
  #lastConnection: WeakRef<object> | undefined
  #renderedThisTurn = false
  readonly #endOfTurn = (): void => { this.#renderedThisTurn = false }

  /** Whether a scrape on `connection` is to wait for the scrapes that may arrive with it. */
  expected (connection: object | undefined): boolean {
    if (connection === undefined) return true
    const same = this.#lastConnection?.deref() === connection
    if (!same) this.#lastConnection = new WeakRef(connection)
    return !same || this.#renderedThisTurn
  }

  /** A scrape is being rendered at once: the others of this turn wait for the check phase. */
  renderingNow (): void {
    this.#renderedThisTurn = true
    setImmediate(this.#endOfTurn)
  }
}

/**
 * From a registry and request headers to what the metrics endpoint answers: the format and
 * encoding the client prefers, 500 for a collector that fails, 503 when scrapes pile up or hang.
 */
export function createScraper (registry: Registry, stats: ScrapeStats, limits: ScrapeLimits, log: FastifyBaseLogger): Scraper {
  const plain = { 'content-type': 'text/plain; charset=utf-8' }
  const bodies = new Coalescer<string, string | Buffer>()
  const waits = new BoundedWaits()
  const company = new Company()
  const failed = (error: unknown): never => {
    log.error({ err: error }, `metrics scrape failed: ${firstLine(error)}`)
    throw error
  }
  /** The body now, or a promise of it where a family (another's metric) or a large gzip is asynchronous. */
  const collectNow = (contentType: Negotiated['contentType'], gzip: boolean): string | Buffer | Promise<string | Buffer> => {
    try {
      const text = render(registry, contentType)
      return typeof text === 'string' ? encode(text, gzip) : text.then((text) => encode(text, gzip)).catch(failed)
    } catch (error) {
      return failed(error)
    }
  }
  const answered = (result: ScrapeResult): ScrapeResult => {
    stats.inFlight--
    stats.count(result.status)
    return result
  }
  const failure = (error: unknown, key: string): ScrapeResult => {
    if (error instanceof ScrapeTimeout) {
      // A hung collection is shared no further: the next scrape tries afresh.
      bodies.abandon(key)
      log.warn(`metrics scrape timed out after ${limits.scrapeTimeout} ms`)
      return { status: 503, headers: plain, body: `scrape timed out after ${limits.scrapeTimeout} ms\n` }
    }
    if (error instanceof ScrapeAbandoned) {
      bodies.abandon(key)
      return { status: 503, headers: plain, body: 'the server is closing: scrape abandoned\n' }
    }
    return { status: 500, headers: plain, body: `error gathering metrics: ${firstLine(error)}\n` }
  }
  /** The answer once a shared collection settles, or 503 if it takes longer than the scrape timeout. */
  const waitFor = async (key: string, body: () => Promise<string | Buffer>): Promise<ScrapeResult> => {
    let result: ScrapeResult
    try {
      result = { status: 200, headers: OK_HEADERS.get(key)!, body: await waits.wait(bodies.run(key, body), limits.scrapeTimeout) }
    } catch (error) {
      result = failure(error, key)
    }
    return answered(result)
  }
  function scrape (headers: FastifyRequest['headers'], connection?: object): ScrapeResult | Promise<ScrapeResult> {
    if (limits.maxScrapesInFlight > 0 && stats.inFlight >= limits.maxScrapesInFlight) {
      stats.count(503)
      return { status: 503, headers: plain, body: `too many concurrent scrapes: at most ${limits.maxScrapesInFlight} are served at once\n` }
    }
    stats.inFlight++
    const negotiated = negotiate(headers)
    const contentType = limits.textOnly === true ? TEXT_CONTENT_TYPE : negotiated.contentType
    const { gzip } = negotiated
    const key = `${contentType} ${gzip}`
    // Rendering is synchronous, so scrapes read from the network in one turn of the event loop
    // would each render in turn; one collection and encoding at the turn's check phase serves all
    // that want the same body.
    if (bodies.running(key) || company.expected(connection)) return waitFor(key, async () => await atCheckPhase(() => collectNow(contentType, gzip)))
    company.renderingNow()
    let body: string | Buffer | Promise<string | Buffer>
    try {
      body = collectNow(contentType, gzip)
    } catch (error) {
      return answered(failure(error, key))
    }
    // Another's metric or a large gzip made it asynchronous: shared and bounded as any other.
    if (body instanceof Promise) return waitFor(key, async () => await body)
    return answered({ status: 200, headers: OK_HEADERS.get(key)!, body })
  }
  return { scrape, abandon: async () => await waits.abandonAfter(CLOSE_GRACE_MS) }
}

export function sendScrape (reply: FastifyReply, result: ScrapeResult): FastifyReply {
  return reply.code(result.status).headers(result.headers).send(result.body)
}

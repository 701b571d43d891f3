import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { Registry } from 'prom-client'
import type { ScrapeCode, ScrapeStats } from './collectors/scrapes.js'
import { Coalescer } from './coalescer.js'
import { encode, negotiate, render, type Negotiated } from './exposition.js'

export interface ScrapeLimits {
  scrapeTimeout: number
  maxScrapesInFlight: number
}

class ScrapeTimeout extends Error {}

/** Resolves as `work` does, or rejects with ScrapeTimeout after `ms`; the timer never outlives it. */
async function withTimeout<T> (work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((resolve, reject) => {
    timer = setTimeout(() => reject(new ScrapeTimeout()), ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
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

/**
 * From a registry and request headers to what the metrics endpoint answers: the format and
 * encoding the client prefers, 500 for a collector that fails, 503 when scrapes pile up or hang.
 */
export function createScraper (registry: Registry, stats: ScrapeStats, limits: ScrapeLimits, log: FastifyBaseLogger) {
  const plain = { 'content-type': 'text/plain; charset=utf-8' }
  const bodies = new Coalescer<string, string | Buffer>()
  /** One collection and encoding for all the scrapes that want the same body at the same time. */
  const collect = async (contentType: Negotiated['contentType'], gzip: boolean): Promise<string | Buffer> => {
    try {
      return await encode(await render(registry, contentType), gzip)
    } catch (error) {
      log.error({ err: error }, `metrics scrape failed: ${firstLine(error)}`)
      throw error
    }
  }
  return async function scrape (headers: FastifyRequest['headers']): Promise<ScrapeResult> {
    if (limits.maxScrapesInFlight > 0 && stats.inFlight >= limits.maxScrapesInFlight) {
      stats.count(503)
      return { status: 503, headers: plain, body: `too many concurrent scrapes: at most ${limits.maxScrapesInFlight} are served at once\n` }
    }
    stats.inFlight++
    const { contentType, gzip } = negotiate(headers)
    const key = `${contentType} ${gzip}`
    let result: ScrapeResult
    try {
      const body = await withTimeout(bodies.run(key, async () => await collect(contentType, gzip)), limits.scrapeTimeout)
      const encoding: Record<string, string> = gzip ? { 'content-encoding': 'gzip' } : {}
      result = { status: 200, headers: { 'content-type': contentType, vary: 'Accept, Accept-Encoding', ...encoding }, body }
    } catch (error) {
      if (error instanceof ScrapeTimeout) {
        // A hung collection is shared no further: the next scrape tries afresh.
        bodies.abandon(key)
        log.warn(`metrics scrape timed out after ${limits.scrapeTimeout} ms`)
        result = { status: 503, headers: plain, body: `scrape timed out after ${limits.scrapeTimeout} ms\n` }
      } else {
        result = { status: 500, headers: plain, body: `error gathering metrics: ${firstLine(error)}\n` }
      }
    } finally {
      stats.inFlight--
    }
    stats.count(result.status)
    return result
  }
}

export function sendScrape (reply: FastifyReply, result: ScrapeResult): FastifyReply {
  return reply.code(result.status).headers(result.headers).send(result.body)
}

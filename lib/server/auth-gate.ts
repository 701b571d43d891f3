import type { FastifyReply, FastifyRequest } from 'fastify'
import { BasicAuth, parseBasicAuth } from './basic-auth.js'
import { WorkerCompare } from './auth-compare.js'
import { TokenBucket } from './rate-limit.js'
import { NO_WEB_CONFIG, type RateLimit, type WebConfig } from './web-config.js'

const TEXT = 'text/plain; charset=utf-8'

function sameLimit (a: RateLimit | undefined, b: RateLimit | undefined): boolean {
  return a?.intervalMs === b?.intervalMs && a?.burst === b?.burst
}

/**
 * What the web config asks of every request, in exporter-toolkit's order: the response headers,
 * the rate limit (429), then basic auth (401). One gate lives as long as the server; a reload
 * hands it the new web config and keeps what it remembers of credentials and the rate.
 */
export class WebGate {
  #web: WebConfig = NO_WEB_CONFIG
  #bucket: TokenBucket | undefined
  readonly #comparer: { compare: BasicAuth['compare'], close: () => Promise<void> }
  readonly #auth: BasicAuth

  constructor (comparer = new WorkerCompare()) {
    this.#comparer = comparer
    this.#auth = new BasicAuth(comparer.compare)
  }

  use (web: WebConfig): void {
    // A reload that keeps the limit keeps the bucket: it must not hand out a fresh burst.
    if (!sameLimit(web.rateLimit, this.#web.rateLimit)) this.#bucket = web.rateLimit === undefined ? undefined : new TokenBucket(web.rateLimit)
    this.#auth.use(web.users)
    this.#web = web
  }

  /** A Fastify onRequest hook. Never throws: a comparison that fails to run is a logged 500. */
  readonly onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(this.#web.headers)
    if (this.#bucket?.take() === false) return await reply.code(429).type(TEXT).send('Too Many Requests\n')
    if (!this.#auth.required) return
    let verdict
    try {
      verdict = await this.#auth.check(parseBasicAuth(request.headers.authorization), request.socket.remoteAddress)
    } catch (error) {
      request.log.error(`basic auth could not check the credentials: ${(error as Error).message}`)
      return await reply.code(500).type(TEXT).send('Internal Server Error\n')
    }
    if (verdict === 'pass') return
    // Too many checks waiting from this address (or in all): refused before costing anything.
    if (verdict === 'busy') return await reply.code(429).header('retry-after', '1').type(TEXT).send('Too Many Requests\n')
    return await reply.code(401).header('www-authenticate', 'Basic').type(TEXT).send('Unauthorized\n')
  }

  async close (): Promise<void> {
    await this.#comparer.close()
  }
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import { BasicAuth, parseBasicAuth, type Verdict } from './basic-auth.js'
import { WorkerCompare } from './auth-compare.js'
import { sourceOf } from './auth-queue.js'
import { TokenBucket } from './rate-limit.js'
import { NO_WEB_CONFIG, type RateLimit, type WebConfig } from './web-config.js'

const TEXT = 'text/plain; charset=utf-8'

function sameLimit (a: RateLimit | undefined, b: RateLimit | undefined): boolean {
  return a?.intervalMs === b?.intervalMs && a?.burst === b?.burst
}

/** A refusal: its status, the headers it adds, its body. */
interface Refusal { status: number, headers: Record<string, string>, body: string }

const REFUSALS: Record<Exclude<Verdict, 'pass'> | 'error' | 'limited', Refusal> = {
  limited: { status: 429, headers: {}, body: 'Too Many Requests\n' },
  // Too many checks waiting: refused before costing anything.
  busy: { status: 429, headers: { 'retry-after': '1' }, body: 'Too Many Requests\n' },
  fail: { status: 401, headers: { 'www-authenticate': 'Basic' }, body: 'Unauthorized\n' },
  error: { status: 500, headers: {}, body: 'Internal Server Error\n' }
}

/** Sets `refusal`'s status and headers on `reply`, in place of whatever the answer had; its body. */
function refuse (reply: FastifyReply, refusal: Refusal): string {
  for (const name of ['content-encoding', 'content-length', 'vary']) reply.removeHeader(name)
  reply.code(refusal.status).headers(refusal.headers).type(TEXT)
  return refusal.body
}

/**
 * What the web config asks of every request, in exporter-toolkit's order: the response headers,
 * the rate limit (429), then basic auth (401). One gate lives as long as the server; a reload
 * hands it the new web config and keeps what it remembers of credentials and the rate.
 *
 * A reload applies to every answer sent after it: an answer made under an older web config (a
 * scrape that passed the gate, then a reload came while it was collected) is judged again, by
 * the new one, just before it is sent (`onSend`).
 */
export class WebGate {
  #web: WebConfig = NO_WEB_CONFIG
  /** Bumped by every `use`: what an answer was let through under. */
  #generation = 0
  readonly #letThrough = new WeakMap<FastifyRequest, number>()
  /** Every header name a web config has set: a later one without it must take it off answers. */
  readonly #headerNames = new Set<string>()
  #bucket: TokenBucket | undefined
  #closing = false
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
    for (const name of Object.keys(web.headers)) this.#headerNames.add(name.toLowerCase())
    this.#web = web
    this.#generation++
  }

  /** A Fastify onRequest hook. Never throws: a comparison that fails to run is a logged 500. */
  readonly onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    reply.headers(this.#web.headers)
    if (this.#bucket?.take() === false) return await reply.send(refuse(reply, REFUSALS.limited))
    const generation = this.#generation
    const refusal = await this.#judge(request)
    if (refusal !== undefined) return await reply.send(refuse(reply, refusal))
    this.#letThrough.set(request, generation)
  }

  /** A Fastify onSend hook: an answer let through under an older web config is judged by the one in force. */
  readonly onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const generation = this.#letThrough.get(request)
    if (generation === undefined || generation === this.#generation) return payload
    for (const name of this.#headerNames) reply.removeHeader(name)
    reply.headers(this.#web.headers)
    const refusal = await this.#judge(request)
    return refusal === undefined ? payload : refuse(reply, refusal)
  }

  /** What to refuse `request` with under the web config in force, or undefined to let it through. */
  async #judge (request: FastifyRequest): Promise<Refusal | undefined> {
    if (!this.#auth.required) return undefined
    let verdict
    try {
      verdict = await this.#auth.check(parseBasicAuth(request.headers.authorization), sourceOf(request.socket.remoteAddress))
    } catch (error) {
      // Closing ends the worker: the checks it had are answered 500, which is no fault to log.
      if (!this.#closing) request.log.error(`basic auth could not check the credentials: ${(error as Error).message}`)
      return REFUSALS.error
    }
    return verdict === 'pass' ? undefined : REFUSALS[verdict]
  }

  async close (): Promise<void> {
    this.#closing = true
    await this.#comparer.close()
  }
}

import { connect, type Socket } from 'node:net'
import { gunzipSync } from 'node:zlib'
import Fastify from 'fastify'
import { Gauge, Registry } from 'prom-client'
import t, { type Test } from 'tap'
import { registerFamily } from '../lib/plugin/collectors/scrape-time-metric.js'
import { ScrapeStats } from '../lib/plugin/collectors/scrapes.js'
import { connectionOf, createScraper, type ScrapeResult } from '../lib/plugin/metrics-route.js'
import { NO_LABELS } from '../lib/plugin/text-format.js'
import { appWith } from './helpers.js'

// A scrape on the same plain HTTP/1 connection as the scrape before it has no company to wait
// for (Prometheus' keep-alive connection): it is rendered at once, once per turn at most.
// Everything else still waits for the turn's check phase, so that scrapes arriving together
// share one rendering.

/** A scraper over a registry whose one family counts its collections; what it logs at error level. */
function scraperWith (t: Test, scrapeTimeout = 60_000): { registry: Registry, stats: ScrapeStats, scraper: ReturnType<typeof createScraper>, collections: () => number, logged: string[] } {
  const registry = new Registry()
  let collections = 0
  registerFamily(registry, { name: 'counted', help: 'Collections.', type: 'gauge', read: () => [{ labels: NO_LABELS, value: ++collections }] })
  const logged: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logged.push(line) } } })
  t.teardown(() => app.close())
  const stats = new ScrapeStats()
  const scraper = createScraper(registry, stats, { scrapeTimeout, maxScrapesInFlight: 0 }, app.log)
  return { registry, stats, scraper, collections: () => collections, logged }
}

const microtask = async (): Promise<void> => { await new Promise<void>((resolve) => queueMicrotask(resolve)) }

t.test('a scrape on the connection of the scrape before is answered at once; any other waits for company', async (t) => {
  const { scraper, collections } = scraperWith(t)
  const prometheus = {}
  const first = scraper.scrape({}, prometheus)
  t.ok(first instanceof Promise, 'the first scrape on a connection waits for the turn')
  t.equal((await first).status, 200)
  await microtask()
  const second = scraper.scrape({}, prometheus) as ScrapeResult
  t.notOk(second instanceof Promise, 'the next on that connection is answered at once')
  t.equal(second.status, 200)
  t.match(second.body, /^counted 2$/m, 'rendered afresh')
  const pipelined = scraper.scrape({}, prometheus)
  t.ok(pipelined instanceof Promise, 'one in the same turn (pipelined) waits for the check phase')
  t.ok(scraper.scrape({}, prometheus) instanceof Promise, 'and the rest join it')
  await pipelined
  await microtask()
  t.notOk(scraper.scrape({}, prometheus) instanceof Promise, 'once that is answered, at once again')
  t.ok(scraper.scrape({}, {}) instanceof Promise, 'another connection waits')
  t.ok(scraper.scrape({}, undefined) instanceof Promise, 'HTTP/2 streams (no connection of their own) wait')
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(collections() <= 5)
})

t.test('at once, gzip and OpenMetrics are as asked, and counted', async (t) => {
  const { scraper, stats } = scraperWith(t)
  const prometheus = {}
  const headers = { accept: 'application/openmetrics-text;version=1.0.0', 'accept-encoding': 'gzip' }
  await scraper.scrape(headers, prometheus)
  await microtask()
  const now = scraper.scrape(headers, prometheus) as ScrapeResult
  t.notOk(now instanceof Promise)
  t.equal(now.headers['content-encoding'], 'gzip')
  t.match(gunzipSync(now.body).toString(), /^counted 2\n# EOF\n$/m)
  t.equal(stats.byCode().get(200), 2)
  t.equal(stats.inFlight, 0)
})

t.test('at once, a family that throws gives 500, logged', async (t) => {
  const { registry, scraper, stats, logged } = scraperWith(t)
  const prometheus = {}
  await scraper.scrape({}, prometheus)
  await microtask()
  registerFamily(registry, { name: 'broken', help: 'Throws.', type: 'gauge', read: () => { throw new Error('no source\nsecond line') } })
  const answer = scraper.scrape({}, prometheus) as ScrapeResult
  t.notOk(answer instanceof Promise)
  t.equal(answer.status, 500)
  t.equal(answer.body, 'error gathering metrics: no source\n')
  t.equal(logged.length, 1)
  t.equal(stats.byCode().get(500), 1)
  t.equal(stats.inFlight, 0)
})

t.test('on the spot but asynchronous (another\'s metric): shared with company and bounded by the scrape timeout', async (t) => {
  const { registry, scraper, stats } = scraperWith(t, 100)
  const prometheus = {}
  await scraper.scrape({}, prometheus)
  await microtask()
  let hung = 0
  // eslint-disable-next-line no-new
  new Gauge({ name: 'hangs', help: 'Never collects.', registers: [registry], collect: async () => { hung++; await new Promise(() => {}) } })
  const onTheSpot = scraper.scrape({}, prometheus)
  t.ok(onTheSpot instanceof Promise, 'a promise, since a family is asynchronous')
  const other = scraper.scrape({}, {})
  t.same([(await onTheSpot).status, (await other).status], [503, 503], 'both time out')
  t.equal(hung, 1, 'the scrape from another connection joined the one collection')
  t.equal(stats.byCode().get(503), 2)
  t.equal(stats.inFlight, 0)
})

/** Every HTTP/1 status line the server sent on `socket` until it closed. */
async function statusLines (socket: Socket): Promise<string[]> {
  let text = ''
  socket.setEncoding('latin1').on('data', (chunk: string) => { text += chunk })
  await new Promise((resolve) => socket.once('close', resolve))
  return text.match(/^HTTP\/1\.1 \d+/mg) ?? []
}

t.test('requests pipelined in one packet behind a scrape answered at once share one collection', { timeout: 30_000 }, async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  let collections = 0
  registerFamily(app.runnerRegistry, { name: 'counted', help: 'Collections.', type: 'gauge', read: () => { collections++; return [] } })
  const socket = await new Promise<Socket>((resolve, reject) => {
    const socket = connect((app.server.address() as { port: number }).port, '127.0.0.1', () => resolve(socket)).on('error', reject)
  })
  t.teardown(() => socket.destroy())
  const lines = statusLines(socket)
  const get = (close = false): string => `GET /metrics HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
  socket.write(get())
  await new Promise((resolve) => socket.once('data', resolve))
  const before = collections
  socket.write(Array.from({ length: 20 }, (_, index) => get(index === 19)).join(''))
  t.same(await lines, Array(21).fill('HTTP/1.1 200'), 'every one answered')
  t.ok(collections - before <= 2, `twenty pipelined scrapes, ${collections - before} collections: the first at once, the rest together`)
})

t.test('scrapes are told apart by plain HTTP/1 connection only: not over TLS, not HTTP/2 streams', async (t) => {
  const socket = {}
  t.equal(connectionOf({ httpVersionMajor: 1, socket } as never), socket, 'HTTP/1 over TCP: its socket')
  t.equal(connectionOf({ httpVersionMajor: 1, socket: { encrypted: true } } as never), undefined, 'HTTPS: none')
  t.equal(connectionOf({ httpVersionMajor: 2, socket } as never), undefined, 'HTTP/2: none')
  t.equal(connectionOf({ httpVersionMajor: 1, socket: null } as never), undefined, 'no socket (a server of the app\'s making): none')
})

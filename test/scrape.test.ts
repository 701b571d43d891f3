import { request as httpRequest } from 'node:http'
import { gunzipSync } from 'node:zlib'
import underPressure from '@fastify/under-pressure'
import Fastify from 'fastify'
import { Counter, Histogram, Registry } from 'prom-client'
import t from 'tap'
import runnerMetrics from '../lib/index.js'
import { negotiate } from '../lib/plugin/exposition.js'
import { appWith, parseSamples, series, until } from './helpers.js'

const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
const TEXT = 'text/plain; version=0.0.4; charset=utf-8'
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

t.test('negotiation honours the Accept header and its q-values', async (t) => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, TEXT],
    ['*/*', TEXT],
    [PROMETHEUS_ACCEPT, OPENMETRICS],
    ['application/openmetrics-text', OPENMETRICS],
    ['application/openmetrics-text;version=1.0.0;q=0.4,text/plain;version=0.0.4;q=0.5', TEXT],
    ['application/openmetrics-text;version=0.0.1', TEXT],
    ['text/plain', TEXT],
    ['application/json', TEXT],
    ['application/openmetrics-text;q=0, */*', TEXT]
  ]
  for (const [accept, expected] of cases) t.equal(negotiate({ accept }).contentType, expected, `Accept: ${accept}`)
  t.equal(negotiate({ 'accept-encoding': 'gzip, deflate, br' }).gzip, true)
  t.equal(negotiate({ 'accept-encoding': 'gzip;q=0, identity' }).gzip, false)
  t.equal(negotiate({ 'accept-encoding': 'br' }).gzip, false)
  t.equal(negotiate({ 'accept-encoding': '*' }).gzip, false, 'identity is as good as anything and costs nothing')
  t.equal(negotiate({}).gzip, false)
})

t.test('OpenMetrics for Prometheus, then text again, both correct', async (t) => {
  const app = await appWith({ runners: [{ name: 'r' }] })
  t.teardown(() => app.close())
  app.builds.start({ id: 1, runner: 'r' }).finish({ state: 'success' })
  const om = await app.inject({ url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } })
  t.equal(om.statusCode, 200)
  t.equal(om.headers['content-type'], OPENMETRICS)
  t.match(om.body, /^# TYPE runner_builds_started counter$/m)
  t.match(om.body, /^runner_builds_started_total\{runner="r"\} 1$/m)
  t.match(om.body, /^process_cpu_seconds_total \S+$/m)
  t.notMatch(om.body, /_total_total/)
  t.ok(om.body.endsWith('# EOF\n'), 'the OpenMetrics body ends with # EOF')

  for (let i = 0; i < 2; i++) {
    const text = await app.inject('/metrics')
    t.equal(text.headers['content-type'], TEXT)
    t.match(text.body, /^# TYPE runner_builds_started_total counter$/m, 'text keeps _total in the family name')
    t.equal(parseSamples(text.body).get(series('runner_builds_started_total', { runner: 'r' })), 1)
    t.notMatch(text.body, /# EOF/)
  }
})

t.test('default labels of your registry carry into both formats', async (t) => {
  const registry = new Registry()
  registry.setDefaultLabels({ instance_group: 'blue' })
  const app = await appWith({ registry, defaultMetrics: false })
  t.teardown(() => app.close())
  const text = await app.inject('/metrics')
  const om = await app.inject({ url: '/metrics', headers: { accept: 'application/openmetrics-text' } })
  t.match(text.body, /^runner_metrics_scrapes_in_flight\{instance_group="blue"\} 1$/m)
  t.match(om.body, /^runner_metrics_scrapes_in_flight\{instance_group="blue"\} 1$/m)
})

t.test('an OpenMetrics registry of your own still serves text on request', async (t) => {
  const registry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE as never)
  const requests = new Counter({ name: 'my_requests_total', help: 'Requests.', registers: [registry] })
  requests.inc(3)
  new Histogram({ name: 'my_latency_seconds', help: 'Latency.', buckets: [1], registers: [registry] }).observe(0.5)
  const app = await appWith({ registry: registry as Registry, defaultMetrics: false })
  t.teardown(() => app.close())
  const text = await app.inject('/metrics')
  t.equal(text.headers['content-type'], TEXT)
  t.match(text.body, /^my_requests_total 3$/m)
  const om = await app.inject({ url: '/metrics', headers: { accept: 'application/openmetrics-text' } })
  t.match(om.body, /^my_requests_total 3$/m)
  t.match(om.body, /^# TYPE my_requests counter$/m)
  t.match(text.body, /^my_latency_seconds_bucket\{le="1"\} 1$/m)
  t.match(om.body, /^my_latency_seconds_bucket\{le="1"\} 1$/m)
  t.match(om.body, /^my_latency_seconds_count 1$/m)
})

t.test('gzip when Accept-Encoding allows it, none otherwise', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  const zipped = await app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip' } })
  t.equal(zipped.headers['content-encoding'], 'gzip')
  t.equal(zipped.headers.vary, 'Accept, Accept-Encoding')
  const body = gunzipSync(zipped.rawPayload).toString()
  t.match(body, /^runner_metrics_scrapes_in_flight 1$/m)
  const plain = await app.inject({ url: '/metrics', headers: { 'accept-encoding': 'identity' } })
  t.equal(plain.headers['content-encoding'], undefined)
  t.match(plain.body, /^# HELP runner_builds /m)
})

t.test('HEAD answers like GET without a body; other methods get 405 with Allow', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  const head = await app.inject({ method: 'HEAD', url: '/metrics' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['content-type'], TEXT)
  t.equal(head.body, '')
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const) {
    const response = await app.inject({ method, url: '/metrics' })
    t.equal(response.statusCode, 405, method)
    t.equal(response.headers.allow, 'GET, HEAD')
  }
})

t.test('a collector that throws: 500 with one line, logged once, next scrape works', async (t) => {
  const logged: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logged.push(line) } } })
  await app.register(runnerMetrics, { defaultMetrics: false })
  let fail = true
  // A user's own metric whose collect() fails, as a broken probe would.
  const probe = new Counter({
    name: 'my_probe_total',
    help: 'A probe.',
    registers: [app.runnerRegistry],
    collect () { if (fail) throw new Error('probe exploded\n    at secret (/srv/app.js:1:1)') }
  })
  probe.inc()
  t.teardown(() => app.close())
  const failed = await app.inject('/metrics')
  t.equal(failed.statusCode, 500)
  t.equal(failed.body, 'error gathering metrics: probe exploded\n')
  t.equal(logged.length, 1, 'logged once')
  t.match(JSON.parse(logged[0]!), { level: 50, msg: 'metrics scrape failed: probe exploded' })
  fail = false
  const next = await app.inject('/metrics')
  t.equal(next.statusCode, 200)
  const samples = parseSamples(next.body)
  t.equal(samples.get(series('runner_metrics_scrapes_total', { code: 500 })), 1)
  t.equal(samples.get(series('runner_metrics_scrapes_total', { code: 200 })), 0)
})

t.test('a collector that rejects with a non-error still gets a one-line 500', async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  // eslint-disable-next-line prefer-promise-reject-errors
  app.runnerRegistry.registerMetric(new Counter({ name: 'odd_total', help: 'x', registers: [], collect: () => Promise.reject('just a string') }))
  const failed = await app.inject('/metrics')
  t.equal(failed.statusCode, 500)
  t.equal(failed.body, 'error gathering metrics: just a string\n')
})

t.test('a collector that hangs is cut off by scrapeTimeout with 503', async (t) => {
  const app = await appWith({ defaultMetrics: false, scrapeTimeout: 50 })
  t.teardown(() => app.close())
  let release: () => void = () => {}
  new Counter({ name: 'slow_total', help: 'x', registers: [app.runnerRegistry], collect: () => new Promise<void>((resolve) => { release = resolve }) }).inc()
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 503)
  t.equal(response.body, 'scrape timed out after 50 ms\n')
  const stillHung = release
  const retry = app.inject('/metrics')
  await until(() => release !== stillHung)
  release()
  t.equal((await retry).statusCode, 200, 'the next scrape did not join the hung collection: it collected afresh')
  stillHung()
  app.runnerRegistry.removeSingleMetric('slow_total')
  const samples = parseSamples((await app.inject('/metrics')).body)
  t.equal(samples.get(series('runner_metrics_scrapes_total', { code: 503 })), 1)
  t.equal(samples.get(series('runner_metrics_scrapes_total', { code: 200 })), 1)
  t.equal(samples.get('runner_metrics_scrapes_in_flight'), 1, 'the timed-out scrape left the in-flight count')
})

t.test('scrapes beyond maxScrapesInFlight are answered 503 at once', async (t) => {
  const app = await appWith({ defaultMetrics: false, maxScrapesInFlight: 2 })
  t.teardown(() => app.close())
  const waiting: Array<() => void> = []
  new Counter({ name: 'gate_total', help: 'x', registers: [app.runnerRegistry], collect: () => new Promise<void>((resolve) => { waiting.push(resolve) }) }).inc()
  const first = app.inject('/metrics')
  const second = app.inject('/metrics')
  await until(() => waiting.length >= 1)
  await new Promise((resolve) => setTimeout(resolve, 20))
  const third = await app.inject('/metrics')
  t.equal(third.statusCode, 503)
  t.equal(third.body, 'too many concurrent scrapes: at most 2 are served at once\n')
  waiting.forEach((resolve) => resolve())
  t.same([(await first).statusCode, (await second).statusCode], [200, 200])
  app.runnerRegistry.removeSingleMetric('gate_total')
  const samples = parseSamples((await app.inject('/metrics')).body)
  t.equal(samples.get(series('runner_metrics_scrapes_total', { code: 200 })), 2)
  t.equal(samples.get(series('runner_metrics_scrapes_total', { code: 503 })), 1)
})

t.test('overlapping scrapes share one collection; later ones collect afresh', async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  const gates: Array<() => void> = []
  let collections = 0
  const open = (): void => { gates.splice(0).forEach((resolve) => resolve()) }
  new Counter({ name: 'gate_total', help: 'x', registers: [app.runnerRegistry], collect: () => { collections++; return new Promise<void>((resolve) => { gates.push(resolve) }) } }).inc()
  const together = Array.from({ length: 5 }, () => app.inject('/metrics'))
  const zipped = app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip' } })
  await until(() => collections >= 2)
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(collections, 2, 'five plain scrapes shared one collection; the gzip one has its own')
  open()
  const answers = await Promise.all(together)
  t.ok(answers.every((answer) => answer.statusCode === 200 && answer.body === answers[0]!.body), 'all five got the same body')
  t.equal((await zipped).headers['content-encoding'], 'gzip')
  const later = app.inject('/metrics')
  await until(() => collections >= 3)
  open()
  t.equal((await later).statusCode, 200, 'a scrape after them collects again')
})

t.test('a failing collection is logged once however many scrapes shared it', async (t) => {
  const logged: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => logged.push(line) } } })
  await app.register(runnerMetrics, { defaultMetrics: false })
  t.teardown(() => app.close())
  let fail: ((error: Error) => void) | undefined
  new Counter({ name: 'flaky_total', help: 'x', registers: [app.runnerRegistry], collect: () => new Promise<void>((resolve, reject) => { fail = reject }) }).inc()
  const scrapes = Array.from({ length: 3 }, () => app.inject('/metrics'))
  // Until the shared collection has begun (a fixed 20 ms was not always enough on a busy machine:
  // the failure then came to nobody, and every scrape timed out, 503).
  await until(() => fail !== undefined)
  fail!(new Error('backend gone'))
  t.same((await Promise.all(scrapes)).map((answer) => answer.statusCode), [500, 500, 500])
  t.equal(logged.length, 1)
})

t.test('no limit by default: many overlapping scrapes are all served', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  const responses = await Promise.all(Array.from({ length: 30 }, () => app.inject('/metrics')))
  t.ok(responses.every((response) => response.statusCode === 200))
})

t.test('over a real socket: gzip and OpenMetrics as Prometheus asks', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const { headers, body } = await new Promise<{ headers: Record<string, unknown>, body: Buffer }>((resolve, reject) => {
    httpRequest({ port, host: '127.0.0.1', path: '/metrics', headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' } }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }))
    }).on('error', reject).end()
  })
  t.equal(headers['content-type'], OPENMETRICS)
  t.equal(headers['content-encoding'], 'gzip')
  t.ok(gunzipSync(body).toString().endsWith('# EOF\n'))
})

t.test('under @fastify/under-pressure, /metrics still answers while other routes get 503', async (t) => {
  const app = Fastify()
  await app.register(underPressure, { healthCheck: async () => false, healthCheckInterval: 10 })
  await app.register(runnerMetrics, { defaultMetrics: false })
  app.get('/work', async () => 'done')
  t.teardown(() => app.close())
  await app.ready()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await app.inject('/work')).statusCode, 503, 'the app is shedding load')
  t.equal((await app.inject('/metrics')).statusCode, 200, 'the scrape gets through')
})

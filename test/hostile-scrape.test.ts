import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { createHook, type AsyncHook } from 'node:async_hooks'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { Counter, Histogram, Registry } from 'prom-client'
import t, { type Test } from 'tap'
import runnerMetrics from '../lib/index.js'
import { registerFamily } from '../lib/plugin/collectors/scrape-time-metric.js'
import { negotiate } from '../lib/plugin/exposition.js'
import { CLOSE_GRACE_MS } from '../lib/plugin/metrics-route.js'
import { resolveOptions } from '../lib/plugin/options.js'
import { appWith, until } from './helpers.js'

const TEXT = 'text/plain; version=0.0.4; charset=utf-8'
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

const fixture = (name: string): string => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url))

/** Runs a fixture in a child Node (with tap's TypeScript loader), killed at teardown; resolves with its exit and output. */
async function runChild (t: Test, command: string, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stdout, stderr }
}

t.test('a GC kind outside Node\'s four (V8\'s minor mark-sweep under --minor-mc) is not fatal', { timeout: 60_000 }, async (t) => {
  const { code, stdout, stderr } = await runChild(t, process.execPath, ['--minor-mc', '--expose-gc', ...process.execArgv, fixture('gc-minor-mc.ts')])
  t.equal(code, 0, stderr)
  const result = JSON.parse(stdout.trim().split('\n').pop()!)
  t.ok(result.minor > 0, `young-generation collections are counted as minor (${result.minor})`)
})

t.test('registrations that never start leave no event-loop monitor whose collection would make a scrape abort the process', { timeout: 60_000 }, async (t) => {
  const { code, stdout, stderr } = await runChild(t, process.execPath, ['--expose-gc', ...process.execArgv, fixture('orphan-monitor.ts')])
  t.equal(code, 0, stderr)
  t.same(JSON.parse(stdout.trim().split('\n').pop()!), { handles: true }, 'the scrape answered, active handles included')
})

t.test('with every file descriptor in use, /metrics still answers 200, leaving out what it cannot read', { timeout: 60_000 }, async (t) => {
  const node = [process.execPath, ...process.execArgv, fixture('emfile.ts')].map((word) => `'${word}'`).join(' ')
  const { code, stdout, stderr } = await runChild(t, '/bin/sh', ['-c', `ulimit -n 256 && exec ${node}`])
  t.equal(code, 0, stderr)
  const result = JSON.parse(stdout.trim().split('\n').pop()!)
  t.ok(result.held > 0, `the child opened ${result.held} files before EMFILE`)
  t.equal(result.status, 200, result.body)
  t.ok(result.cpu, 'what needs no descriptor is still there')
})

/**
 * The ids of this package's timers alive now, kept up to date until the test ends (Node's own,
 * such as the HTTP Date header cache, are not ours to count).
 */
function watchTimers (t: Test): { timers: Set<number>, hook: AsyncHook } {
  const timers = new Set<number>()
  const ours = fileURLToPath(new URL('../lib/', import.meta.url))
  const hook = createHook({
    init (id, type) { if (type === 'Timeout' && new Error().stack!.includes(ours)) timers.add(id) },
    destroy (id) { timers.delete(id) }
  }).enable()
  t.teardown(() => { hook.disable() })
  return { timers, hook }
}

t.test('a refused registration starts no timer', async (t) => {
  const registry = new Registry()
  registry.registerMetric(new Histogram({ name: 'nodejs_gc_duration_seconds', help: 'taken', registers: [] }))
  const { timers, hook } = watchTimers(t)
  const app = Fastify()
  await t.rejects(app.register(runnerMetrics, { registry }).ready(), /already holds one of its metrics/)
  await app.close()
  // A cleared timer's destroy hook runs in a later turn.
  await new Promise((resolve) => setImmediate(resolve))
  hook.disable()
  t.same([...timers], [], 'no timer is left running')
})

t.test('scrapeTimeout is bounded by what a timer can wait', async (t) => {
  t.throws(() => resolveOptions({ scrapeTimeout: 2 ** 31 }), { message: 'fastify-runner-metrics: option "scrapeTimeout" must be an integer from 1 to 2147483647, got 2147483648' })
  t.equal(resolveOptions({ scrapeTimeout: 2 ** 31 - 1 }).scrapeTimeout, 2 ** 31 - 1)
  const app = await appWith({ defaultMetrics: false, scrapeTimeout: 2 ** 31 - 1 })
  t.teardown(() => app.close())
  t.equal((await app.inject('/metrics')).statusCode, 200, 'the longest timeout still lets a scrape through')
})

t.test('a hung scrape\'s timer does not outlive close(): the scrape is answered 503 once the close grace (5 s) has passed', { timeout: 30_000 }, async (t) => {
  const app = await appWith({ defaultMetrics: false, scrapeTimeout: 600_000 })
  let collecting = false
  app.runnerRegistry.registerMetric(new Counter({ name: 'hang_total', help: 'x', registers: [], collect: () => { collecting = true; return new Promise<void>(() => {}) } }))
  const { timers, hook } = watchTimers(t)
  const hung = app.inject('/metrics')
  await until(() => collecting)
  t.ok(timers.size > 0, 'the scrape is timed')
  await app.close()
  const response = await hung
  t.equal(response.statusCode, 503)
  t.equal(response.body, 'the server is closing: scrape abandoned\n')
  await new Promise((resolve) => setImmediate(resolve))
  hook.disable()
  t.same([...timers], [], 'no timer of the scrape is left')
})

t.test('a scrape that reaches the route after close() began (held by the host\'s async onRequest hook) does not hold close() past the close grace', { timeout: 60_000 }, async (t) => {
  const scrapeTimeout = 20_000
  const app = Fastify()
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  let inHook = false
  app.addHook('onRequest', async () => { inHook = true; await held })
  await app.register(runnerMetrics, { defaultMetrics: false, scrapeTimeout })
  await app.listen({ host: '127.0.0.1', port: 0 })
  app.runnerRegistry.registerMetric(new Counter({ name: 'hang_total', help: 'x', registers: [], collect: async () => { await new Promise<void>(() => {}) } }))
  const socket = await new Promise<Socket>((resolve, reject) => {
    const socket = connect((app.server.address() as { port: number }).port, '127.0.0.1', () => resolve(socket)).on('error', reject)
  })
  t.teardown(() => socket.destroy())
  let text = ''
  socket.setEncoding('latin1').on('data', (chunk: string) => { text += chunk })
  socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  await until(() => inHook)
  const started = performance.now()
  const closed = app.close()
  // The plugin's preClose hook has found no scrape waiting; the host's hook lets this one through after it.
  await new Promise((resolve) => setImmediate(resolve))
  release()
  await closed
  const took = performance.now() - started
  t.ok(took < CLOSE_GRACE_MS + 1000, `close() took ${Math.round(took)} ms (close grace ${CLOSE_GRACE_MS} ms, scrapeTimeout ${scrapeTimeout} ms)`)
  await until(() => text.endsWith('scrape abandoned\n'))
  t.match(text, /^HTTP\/1\.1 503 /, 'the late scrape is answered 503')
})

t.test('/debug/jobs/list text escapes control characters', async (t) => {
  const app = await appWith({ jobsList: true })
  t.teardown(() => app.close())
  app.builds.start({ id: 'a\x1b[2Jb\x07\x00\x7f\u009b', runner: 'r\x1b]0;owned\x07' })
  app.builds.start({ id: 'back\\slash"quote', runner: 'fine' })
  const text = (await app.inject('/debug/jobs/list')).body
  t.notMatch(text, /(?!\n)\p{Cc}/u, 'no control character reaches the terminal')
  t.match(text, /^id="a\\x1b\[2Jb\\x07\\x00\\x7f\\x9b" runner="r\\x1b\]0;owned\\x07" state=pending/m)
  t.match(text, /^id="back\\\\slash\\"quote" runner=fine /m)
})

// The Accept headers Prometheus sends by default (scrape/scrape.go, scrape_protocols).
const PROMETHEUS_2_0 = 'application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
const PROMETHEUS_2 = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
const PROMETHEUS_3 = 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2'
const PROMETHEUS_3_PROTO_FIRST = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,${PROMETHEUS_3}`
const PROMETHEUS_3_TEXT_FIRST = 'text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,*/*;q=0.3'

t.test('negotiation on type and version only, as client_golang does: Prometheus 2 and 3 get OpenMetrics', async (t) => {
  const cases: Array<[string, string]> = [
    [PROMETHEUS_2, OPENMETRICS],
    [PROMETHEUS_3, OPENMETRICS],
    [PROMETHEUS_3_PROTO_FIRST, OPENMETRICS],
    [PROMETHEUS_3_TEXT_FIRST, TEXT],
    // OpenMetrics 0.0.1 is not served here: Prometheus 2.0's first choice falls to text.
    [PROMETHEUS_2_0, TEXT],
    ['Application/OpenMetrics-Text; Version="1.0.0"; charset=utf-8', OPENMETRICS],
    ['text/plain;version=1.0.0,application/openmetrics-text;q=0.1', OPENMETRICS],
    ['application/openmetrics-text;version=2.0.0, text/plain;q=0.1', TEXT],
    ['text/plain, application/openmetrics-text', TEXT],
    ['application/openmetrics-text;q=nonsense, text/plain;q=0.1', TEXT],
    [',;,garbage;;q, =1, application/openmetrics-text;q=0.5', OPENMETRICS]
  ]
  for (const [accept, expected] of cases) t.equal(negotiate({ accept }).contentType, expected, `Accept: ${accept}`)
  const app = await appWith()
  t.teardown(() => app.close())
  const response = await app.inject({ url: '/metrics', headers: { accept: PROMETHEUS_3, 'accept-encoding': 'gzip' } })
  t.equal(response.headers['content-type'], OPENMETRICS)
  t.equal(response.headers['content-encoding'], 'gzip')
})

t.test('a GC entry of a kind V8 may add later is skipped', async (t) => {
  let deliver: (list: { getEntries: () => unknown[] }) => void = () => {}
  class FakeObserver {
    constructor (callback: typeof deliver) { deliver = callback }
    observe (): void {}
    disconnect (): void {}
  }
  const perfHooks = await import('node:perf_hooks')
  const { registerGcMetrics } = await t.mockImport<typeof import('../lib/plugin/collectors/gc.js')>('../lib/plugin/collectors/gc.js', {
    'node:perf_hooks': { ...perfHooks, PerformanceObserver: FakeObserver }
  })
  const registry = new Registry()
  registerGcMetrics(registry)()()
  t.doesNotThrow(() => deliver({ getEntries: () => [{ detail: { kind: 64 }, duration: 3 }, { detail: { kind: perfHooks.constants.NODE_PERFORMANCE_GC_MAJOR }, duration: 2 }] }))
  const body = await registry.metrics()
  t.match(body, /^nodejs_gc_duration_seconds_count\{kind="major"\} 1$/m, 'the known kind beside it is counted')
  t.notMatch(body, /kind="(?!major|minor|incremental|weakcb)/, 'no series for the unknown kind')
})

t.test('scrapes arriving together over the network share one collection, though every collector is synchronous', { timeout: 30_000 }, async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  let collections = 0
  registerFamily(app.runnerRegistry, { name: 'counted', help: 'Collections.', type: 'gauge', read: () => { collections++; return [] } })
  const sockets = await Promise.all(Array.from({ length: 20 }, async () => await new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket)).on('error', reject)
  })))
  t.teardown(() => { for (const socket of sockets) socket.destroy() })
  // The server has accepted all twenty.
  const accepted = async (): Promise<number> => await new Promise((resolve) => app.server.getConnections((error, count) => resolve(error === null ? count : 0)))
  while (await accepted() < 20) await new Promise((resolve) => setImmediate(resolve))
  const answered = sockets.map(async (socket) => await new Promise<string>((resolve) => {
    let text = ''
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      text += chunk
      if (text.includes('# HELP runner_version_info')) resolve(text.split(' ', 2)[1]!)
    })
  }))
  for (const socket of sockets) socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
  // All twenty requests are in the server's socket buffers before its event loop looks at any.
  const until = Date.now() + 100
  while (Date.now() < until) { /* hold the event loop */ }
  t.same(await Promise.all(answered), Array(20).fill('200'))
  t.equal(collections, 1, 'twenty scrapes read in one turn, one collection')
})

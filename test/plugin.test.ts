import { PassThrough } from 'node:stream'
import Fastify, { type RouteOptions } from 'fastify'
import * as prom from 'prom-client'
import { Registry, collectDefaultMetrics, register as globalRegistry } from 'prom-client'
import t from 'tap'
import runnerMetrics, { BuildTracker, promClient, runnerMetrics as named } from '../lib/index.js'
import { appWith, samplesOf, scrape, series } from './helpers.js'

t.test('the default export and the named export are the plugin', async (t) => {
  t.equal(named, runnerMetrics)
  const meta = (runnerMetrics as unknown as Record<symbol, unknown>)[Symbol.for('plugin-meta')]
  t.match(meta, { name: 'fastify-runner-metrics', fastify: '5.x' })
})

t.test('two apps in one process: own registries, own builds, nothing global', async (t) => {
  const globalBefore = await globalRegistry.getMetricsAsJSON()
  const first = await appWith()
  const second = await appWith()
  t.teardown(async () => { await first.close(); await second.close() })
  t.not(first.runnerRegistry, second.runnerRegistry)
  t.not(first.builds, second.builds)
  t.ok(first.runnerRegistry instanceof Registry)

  const a = first.builds.start({ id: '1', runner: 'docker-1' })
  a.setStage('get_sources')
  first.builds.start({ id: '2', runner: 'docker-1' }).setStage('get_sources')
  first.builds.start({ id: '3', runner: 'docker-1' }).setStage('step_script')
  first.builds.start({ id: '4', runner: 'shell' })

  const one = await scrape(first)
  t.equal(one.get(series('runner_builds', { runner: 'docker-1', state: 'running', stage: 'get_sources' })), 2)
  t.equal(one.get(series('runner_builds', { runner: 'docker-1', state: 'running', stage: 'step_script' })), 1)
  t.equal(one.get(series('runner_builds', { runner: 'shell', state: 'pending', stage: 'none' })), 1)
  t.equal(one.get(series('runner_builds', { runner: 'docker-1', state: 'pending', stage: 'none' })), 0, 'a series that held builds stays at zero')

  const two = await scrape(second)
  t.same([...samplesOf(two, 'runner_builds')], [], 'the second app sees none of the first app\'s builds')
  t.same(await globalRegistry.getMetricsAsJSON(), globalBefore, 'prom-client\'s global registry is untouched')
  t.same(globalBefore, [])

  a.finish({ state: 'success' })
  const after = await scrape(first)
  t.equal(after.get(series('runner_builds', { runner: 'docker-1', state: 'running', stage: 'get_sources' })), 1)
})

t.test('version info: value 1 with all eight labels, defaults from this package and the platform', async (t) => {
  const app = await appWith({ version: { version: '17.2.0', revision: 'abc123', branch: 'main' } })
  t.teardown(() => app.close())
  const samples = await scrape(app)
  const version = [...samplesOf(samples, 'runner_version_info')]
  t.equal(version.length, 1)
  t.equal(version[0]![1], 1)
  t.equal(version[0]![0], series('runner_version_info', {
    name: 'fastify-runner-metrics',
    version: '17.2.0',
    revision: 'abc123',
    branch: 'main',
    node_version: process.version,
    built_at: 'unknown',
    os: process.platform,
    architecture: process.arch
  }))
})

t.test('Node.js runtime and process metrics are on the instance registry', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  const samples = await scrape(app)
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_active_handles_all', 'nodejs_active_requests_all', 'nodejs_active_resources_all']) {
    t.ok(samplesOf(samples, name).size > 0, `${name} is exported`)
  }
  t.ok(samples.get('process_resident_memory_bytes')! > 1e6, 'resident memory is a real number')
  t.ok(samples.get('process_open_fds')! > 0)
  t.equal(samplesOf(samples, 'nodejs_active_handles_total').size, 0, 'no gauge is named like a counter')
  t.ok(app.runnerRegistry.getSingleMetric('nodejs_gc_duration_seconds'), 'GC durations are collected')
})

t.test('defaultMetrics: false leaves runtime metrics out', async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  const samples = await scrape(app)
  t.equal(samplesOf(samples, 'process_cpu_seconds_total').size, 0)
  t.equal(samplesOf(samples, 'runner_version_info').size, 1)
})

t.test('a registry of your own is filled and decorated', async (t) => {
  const registry = new Registry()
  const app = await appWith({ registry })
  t.teardown(() => app.close())
  t.equal(app.runnerRegistry, registry)
  t.ok(registry.getSingleMetric('runner_builds'))
})

t.test('a shared registry on a second instance fails with a clear error', async (t) => {
  const registry = new Registry()
  const first = await appWith({ registry, defaultMetrics: false })
  t.teardown(() => first.close())
  await t.rejects(appWith({ registry, defaultMetrics: false }), { code: 'FST_RUNNER_METRICS_REGISTRY_CONFLICT', message: /the registry already holds one of its metrics .*runner_builds.*give each instance its own registry/ })
})

t.test('a registry with prom-client\'s default metrics needs defaultMetrics: false', async (t) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  await t.rejects(appWith({ registry }), /already been registered.*set defaultMetrics: false on one that has prom-client's default metrics/)
  const app = await appWith({ registry, defaultMetrics: false })
  t.teardown(() => app.close())
  const samples = await scrape(app)
  t.ok(samples.get('process_cpu_seconds_total')! > 0, 'prom-client\'s own runtime metrics are served')
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'x' })), undefined)
})

t.test('a tracker fed elsewhere is reported', async (t) => {
  const tracker = new BuildTracker({ runners: [{ name: 'x', limit: 3 }] })
  const app = await appWith({ tracker })
  t.teardown(() => app.close())
  t.equal(app.builds, tracker)
  tracker.start({ id: 1, runner: 'x' })
  t.equal((await scrape(app)).get(series('runner_builds', { runner: 'x', state: 'pending', stage: 'none' })), 1)
})

t.test('registering twice on one instance fails clearly', async (t) => {
  const app = Fastify()
  await app.register(runnerMetrics)
  await t.rejects(async () => { await app.register(runnerMetrics) }, { code: 'FST_RUNNER_METRICS_ALREADY_REGISTERED', message: /fastify-runner-metrics is already registered on this Fastify instance/ })
})

t.test('another plugin\'s "builds" decorator is not silently replaced', async (t) => {
  const app = Fastify()
  app.decorate('builds', 'something else')
  await t.rejects(async () => { await app.register(runnerMetrics) }, { code: 'FST_RUNNER_METRICS_ALREADY_REGISTERED', message: /another plugin decorates "runnerRegistry" or "builds"/ })
})

t.test('resetMetrics on the registry leaves the tracker-backed values as they are', async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  app.builds.start({ id: 1, runner: 'r' })
  app.runnerRegistry.resetMetrics()
  t.equal((await scrape(app)).get(series('runner_builds_started_total', { runner: 'r' })), 1, 'the counts live in the tracker')
})

t.test('endpoint moves or removes the route', async (t) => {
  const moved = await appWith({ endpoint: '/internal/metrics' })
  const none = await appWith({ endpoint: false })
  t.teardown(async () => { await moved.close(); await none.close() })
  t.equal((await moved.inject('/internal/metrics')).statusCode, 200)
  t.equal((await moved.inject('/metrics')).statusCode, 404)
  t.equal((await none.inject('/metrics')).statusCode, 404)
  t.ok(none.runnerRegistry.getSingleMetric('runner_builds'), 'the metrics are there for your own route')
})

t.test('options of the wrong type fail registration naming the option', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ endpoint: 42 }, /option "endpoint" must be a path starting with "\/", false, or route options \(\{ url, onRequest, logLevel, schema, ... \}\), got 42/],
    [{ endpoint: null }, /option "endpoint" must be a path starting with "\/", false, or route options/],
    [{ endpoint: ['/m'] }, /option "endpoint" must be a path starting with "\/", false, or route options/],
    [{ endpoint: { url: 'metrics' } }, /option "endpoint.url" must be a path starting with "\/", got "metrics"/],
    [{ endpoint: { method: 'POST' } }, /option "endpoint" sets "method", which the plugin sets itself; allowed: url and Fastify route options/],
    [{ endpoint: { handler: () => 'x' } }, /option "endpoint" sets "handler", which the plugin sets itself/],
    [{ endpoint: 'metrics' }, /option "endpoint" must be a path starting with "\/", false, or route options, got "metrics"/],
    [{ registry: {} }, /option "registry" must be a prom-client Registry/],
    [{ defaultMetrics: 'yes' }, /option "defaultMetrics" must be a boolean, got "yes"/],
    [{ version: 'v1' }, /option "version" must be an object of label values/],
    [{ version: null }, /option "version" must be an object/],
    [{ version: ['v1'] }, /option "version" must be an object/],
    [{ version: { tag: 'x' } }, /option "version" has unknown label "tag"; allowed: name, version, revision, branch, node_version, built_at, os, architecture/],
    [{ version: { version: 17 } }, /option "version" label "version" must be a string, got 17/],
    [{ runners: [{ name: '' }] }, /fastify-runner-metrics: runners: every runner needs a non-empty string name/],
    [{ concurrent: 'many' }, /fastify-runner-metrics: concurrent must be a non-negative integer, got "many"/],
    [{ stages: ['Bad'] }, /fastify-runner-metrics: stage "Bad" is not allowed/],
    [{ tracker: {} }, /option "tracker" must be a BuildTracker/],
    [{ tracker: new BuildTracker(), concurrent: 2 }, /option "tracker" comes with its own runners, concurrent and stages/],
    [{ jobsList: 7 }, /option "jobsList" must be a path starting with "\/", true, false, or route options/],
    [{ scrapeTimeout: 0 }, /option "scrapeTimeout" must be an integer from 1 to 2147483647, got 0/],
    [{ maxScrapesInFlight: -1 }, /option "maxScrapesInFlight" must be an integer of at least 0, got -1/],
    [{ endpiont: '/m' }, /option "endpiont" is not an option; options: registry, endpoint/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    const error = await app.register(runnerMetrics, options as never).ready().then(() => undefined, (error: unknown) => error)
    t.ok(error instanceof TypeError, `${JSON.stringify(options)}: a TypeError`)
    t.match(error, { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message }, JSON.stringify(options))
  }
})

t.test('a "metrics" decorator of another plugin (fastify-metrics) does not stop this one', async (t) => {
  const app = Fastify()
  app.decorate('metrics', { client: 'fastify-metrics' })
  await app.register(runnerMetrics)
  t.ok(app.runnerRegistry instanceof Registry)
  await app.close()
})

/** An app whose log lines (JSON, level `info` and up) are collected in `lines`. */
function loggedApp (): { app: ReturnType<typeof Fastify>, lines: Array<Record<string, unknown>> } {
  const stream = new PassThrough()
  const lines: Array<Record<string, unknown>> = []
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
  })
  return { app: Fastify({ logger: { level: 'info', stream } }), lines }
}

t.test('Fastify\'s register option prefix puts the routes under it', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(runnerMetrics, { prefix: '/ops', jobsList: true })
  t.equal((await app.inject('/ops/metrics')).statusCode, 200)
  t.equal((await app.inject('/ops/debug/jobs/list')).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/ops/metrics' })).statusCode, 405)
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.ok(app.runnerRegistry instanceof Registry, 'the decorators are still the app\'s')
})

t.test('Fastify\'s register options logLevel and logSerializers apply to the routes', async (t) => {
  const { app, lines } = loggedApp()
  t.teardown(() => app.close())
  app.get('/other', async () => 'ok')
  await app.register(runnerMetrics, { logLevel: 'warn', logSerializers: { req: () => 'hidden' } })
  await app.inject('/metrics')
  t.same(lines.filter((line) => line.msg === 'incoming request'), [], 'no info lines for the metrics route')
  await app.inject('/other')
  t.equal(lines.filter((line) => line.msg === 'incoming request').length, 1, 'other routes log as before')

  const serialized = loggedApp()
  t.teardown(() => serialized.app.close())
  await serialized.app.register(runnerMetrics, { logSerializers: { req: () => 'hidden' } })
  await serialized.app.inject('/metrics')
  t.match(serialized.lines.find((line) => line.msg === 'incoming request'), { req: 'hidden' })
})

t.test('endpoint as route options: url, an onRequest auth hook, logLevel, schema, config', async (t) => {
  const routes: RouteOptions[] = []
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHook('onRoute', (route) => { routes.push(route) })
  await app.register(runnerMetrics, {
    endpoint: {
      url: '/internal/metrics',
      onRequest: async (request, reply) => { if (request.headers.authorization !== 'Bearer s3cret') await reply.code(401).send('unauthorized\n') },
      logLevel: 'error',
      schema: { hide: true },
      config: { owner: 'ops' }
    }
  })
  await app.ready()
  t.equal((await app.inject('/internal/metrics')).statusCode, 401, 'the hook guards the route')
  t.equal((await app.inject({ url: '/internal/metrics', headers: { authorization: 'Bearer s3cret' } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/internal/metrics' })).statusCode, 401, 'and every other method too')
  const metricsRoute = routes.find((route) => route.url === '/internal/metrics' && route.method.includes('GET'))!
  t.equal(metricsRoute.logLevel, 'error')
  t.match(metricsRoute.schema, { hide: true })
  t.match(metricsRoute.config, { owner: 'ops' })
  t.type((metricsRoute.config as { pressureHandler: unknown }).pressureHandler, 'function', 'the plugin\'s own route config stays')

  const defaults = await appWith({ endpoint: { logLevel: 'warn' } })
  t.teardown(() => defaults.close())
  t.equal((await defaults.inject('/metrics')).statusCode, 200, 'url defaults to /metrics')
})

t.test('endpoint logLevel silences the route\'s request logs', async (t) => {
  const { app, lines } = loggedApp()
  t.teardown(() => app.close())
  await app.register(runnerMetrics, { endpoint: { url: '/metrics', logLevel: 'warn' } })
  t.equal((await app.inject('/metrics')).statusCode, 200)
  t.same(lines.filter((line) => line.msg === 'incoming request'), [])
})

t.test('promClient is the prom-client the plugin registers its metrics with', async (t) => {
  t.equal(promClient.Registry, prom.Registry)
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  t.ok(app.runnerRegistry instanceof promClient.Registry)
  const jobs = new promClient.Counter({ name: 'manager_jobs_total', help: 'Jobs.', registers: [app.runnerRegistry] })
  jobs.inc()
  t.equal((await scrape(app)).get('manager_jobs_total'), 1)
})

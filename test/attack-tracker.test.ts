import { get } from 'node:http'
import fc from 'fast-check'
import Fastify from 'fastify'
import t from 'tap'
import runnerMetrics, { BuildTracker, promClient, type RunnerMetricsOptions, type StartOptions, type TrackerConfig } from '../lib/index.js'
import { appWith, parseSamples, samplesOf } from './helpers.js'
import { findPromtool, runPromtool } from './promtool.js'

// Hostile and careless input through the public API: every case here once corrupted the
// output, crashed or stalled the host, or threw an error without its code. The README's
// hostile-input table lists them beside the ones that held.

const promtool = findPromtool()

/** Series written more than once: Prometheus drops such a scrape's duplicates. */
function duplicateSeries (body: string): string[] {
  const seen = new Set<string>()
  const duplicates: string[] = []
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const key = line.slice(0, line.lastIndexOf(' '))
    if (seen.has(key)) duplicates.push(key)
    seen.add(key)
  }
  return duplicates
}

const INVALID_RUNNER = 'FST_RUNNER_METRICS_INVALID_RUNNER'

t.test('runner names with a lone surrogate are refused: on the wire they would print alike and duplicate series', async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  for (const runner of ['\uD800', '\uDC00', 'a\uD83D', '\uDE00b']) {
    t.throws(() => app.builds.start({ id: 1, runner }), { code: INVALID_RUNNER, message: /runner must be well-formed Unicode/ })
    t.throws(() => app.builds.requestJob(runner), { code: INVALID_RUNNER })
    t.throws(() => app.builds.apiRequest({ runner, endpoint: 'get_job', status: 200, seconds: 1 }), { code: INVALID_RUNNER })
    t.throws(() => app.builds.configure({ runners: [{ name: runner }] }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /well-formed Unicode/ })
  }
  app.builds.start({ id: 1, runner: '\uFFFD' })
  app.builds.start({ id: 2, runner: 'emoji \uD83D\uDE00' })
  const body = (await app.inject('/metrics')).body
  t.same(duplicateSeries(body), [])
  t.equal(samplesOf(parseSamples(body), 'runner_builds_started_total').size, 2)
})

/** Characters of runner names: anything, with lone surrogate halves and what escaping touches made likely. */
const NAME_UNIT = fc.oneof(fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uFFFD', '"', '\\', '\n', '}', 'a'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))

t.test('any runner names: each is refused with its code, or has its own series and no series is written twice', async (t) => {
  let id = 0
  await t.resolves(fc.assert(fc.asyncProperty(fc.array(fc.string({ unit: NAME_UNIT, maxLength: 4 }), { maxLength: 8 }), async (names) => {
    const tracker = new BuildTracker()
    const accepted = new Set<string>()
    for (const runner of names) {
      try {
        tracker.start({ id: ++id, runner })
        accepted.add(runner)
      } catch (error) {
        if ((error as { code?: string }).code !== INVALID_RUNNER) throw error
      }
    }
    const app = await appWith({ tracker, defaultMetrics: false })
    try {
      const body = (await app.inject('/metrics')).body
      // Lines, not parseSamples: a raw carriage return in a label value is valid and ends no line.
      const started = body.split('\n').filter((line) => line.startsWith('runner_builds_started_total{'))
      return duplicateSeries(body).length === 0 && started.length === accepted.size
    } finally {
      await app.close()
    }
  }), { numRuns: 60 }))
})

t.test('a huge runner name is refused: one megabyte name made every scrape 50 MB, twenty made /metrics fail', async (t) => {
  const app = await appWith({ defaultMetrics: false })
  t.teardown(() => app.close())
  const huge = 'x'.repeat(1 << 20)
  t.throws(() => app.builds.start({ id: 1, runner: huge }), { code: INVALID_RUNNER, message: /runner must be at most 256 characters long, got "x{20}.*\(1048576 characters\)$/ })
  t.throws(() => app.builds.requestJob(huge), { code: INVALID_RUNNER })
  t.throws(() => app.builds.configure({ runners: [{ name: huge }] }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /at most 256 characters/ })
  t.throws(() => app.builds.start({ id: 1, runner: 'y'.repeat(257) }), { code: INVALID_RUNNER, message: /at most 256 characters/ })
  t.ok(app.builds.start({ id: 2, runner: 'y'.repeat(256) }), 'a name of 256 characters is fine')
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.ok(response.body.length < 100_000, 'the scrape stays small')
})

t.test('hostile runner names that are allowed leave /metrics clean for promtool', { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
  const names = ['a"b', 'a\\b', 'a\nb', 'a}b', 'x{y="z"}', 'a,b', '\r', '\0', '\x1b[31mred', '\u2028', 'ランナー', '\uFFFD', '__proto__', 'constructor', 'toString', ' ', 'NaN', '-0', '1e308']
  for (const naming of ['runner', 'gitlab-runner'] as const) {
    const app = await appWith({ runners: names.map((name) => ({ name, limit: 1 })), naming })
    t.teardown(() => app.close())
    names.forEach((runner, index) => {
      const build = app.builds.start({ id: index, runner, queueSeconds: index })
      build.setStage('step_script')
      build.finish({ state: 'failed', failureReason: 'script_failure' })
      app.builds.apiRequest({ runner, endpoint: 'patch_trace', status: 200, seconds: 0.1 })
      app.builds.requestJob(runner)
    })
    const body = (await app.inject('/metrics')).body
    const { output } = runPromtool(['check', 'metrics'], body)
    t.equal(output, '', `no findings with naming ${naming}`)
    t.same(duplicateSeries(body), [])
  }
})

t.test('scrapeTimeout beyond a timer\'s range is refused: Node cut it to 1 ms and answered every scrape 503', async (t) => {
  await t.rejects(appWith({ scrapeTimeout: 2 ** 31 }), { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: /option "scrapeTimeout" must be an integer from 1 to 2147483647, got 2147483648/ })
  const app = await appWith({ scrapeTimeout: 2 ** 31 - 1, defaultMetrics: false })
  t.teardown(() => app.close())
  t.equal((await app.inject('/metrics')).statusCode, 200)
})

/** Values JSON.stringify cannot show: it threw its own error (no code) or showed NaN as null. */
const UNSHOWABLE: Array<[unknown, RegExp]> = [
  [10n, /10n/],
  [Number.NaN, /NaN/],
  [-Infinity, /-Infinity/],
  [Symbol('s'), /Symbol\(s\)/],
  [(() => { const circular: Record<string, unknown> = {}; circular.self = circular; return circular })(), /<ref \*1> \{ self: \[Circular \*1\] \}/],
  [{ toJSON () { throw new Error('boom') } }, /\{ toJSON: \[Function: toJSON\] \}/]
]

t.test('values JSON cannot show still get the coded error naming them', async (t) => {
  const tracker = new BuildTracker({ runners: [{ name: 'r' }] })
  const build = tracker.start({ id: 'b', runner: 'r' })
  for (const [value, shown] of UNSHOWABLE) {
    const cases: Array<[() => unknown, string]> = [
      [() => tracker.start({ id: value, runner: 'r' } as unknown as StartOptions), 'FST_RUNNER_METRICS_INVALID_BUILD_ID'],
      [() => tracker.start({ id: 'x', runner: value } as unknown as StartOptions), INVALID_RUNNER],
      [() => tracker.start({ id: 'x', runner: 'r', queueSeconds: value } as unknown as StartOptions), 'FST_RUNNER_METRICS_INVALID_VALUE'],
      [() => tracker.apiRequest({ runner: 'r', endpoint: 'get_job', status: value as number, seconds: 1 }), 'FST_RUNNER_METRICS_INVALID_VALUE'],
      [() => tracker.requestJob(value as string), INVALID_RUNNER],
      [() => build.setStage(value as string), 'FST_RUNNER_METRICS_INVALID_STAGE'],
      [() => build.finish({ state: value as 'success' }), 'FST_RUNNER_METRICS_INVALID_STATE'],
      [() => tracker.configure({ concurrent: value as number }), 'FST_RUNNER_METRICS_INVALID_CONFIG'],
      [() => tracker.configure({ runners: [{ name: 'r', limit: value as number }] }), 'FST_RUNNER_METRICS_INVALID_CONFIG']
    ]
    for (const [call, code] of cases) t.throws(call, { code, message: shown }, `${String(code)} for ${String(shown)}`)
  }
  t.equal(build.state, 'pending', 'nothing changed')
  for (const [value, shown] of UNSHOWABLE) {
    // An object as endpoint or jobsList is route options, not a refused value.
    for (const option of ['naming', 'scrapeTimeout', 'defaultMetrics', ...(typeof value === 'object' ? [] : ['endpoint', 'jobsList'])]) {
      await t.rejects(appWith({ [option]: value } as RunnerMetricsOptions), { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: shown }, `${option} ${String(shown)}`)
    }
    await t.rejects(appWith({ version: { name: value as string } }), { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: shown })
  }
})

t.test('a refused value is shown cut short: the message stays one short line', async (t) => {
  const tracker = new BuildTracker()
  const oneShortLine = (call: () => unknown): void => {
    try {
      call()
      t.fail('expected to throw')
    } catch (error) {
      const { message } = error as Error
      t.ok(message.length < 400 && !message.includes('\n'), message.slice(0, 100))
    }
  }
  oneShortLine(() => tracker.start({ id: 'z'.repeat(100_000), runner: 'r' }).finish({ state: 'x'.repeat(100_000) as 'success' }))
  const build = tracker.start({ id: `line\n${'z'.repeat(100_000)}`, runner: 'r' })
  oneShortLine(() => build.finish({ state: 'x' as 'success' }))
  oneShortLine(() => tracker.start({ id: build.id, runner: 'r' }))
  oneShortLine(() => tracker.requestJob(Object.fromEntries(Array.from({ length: 1000 }, (_, key) => [`key${key}`, 'v\n'.repeat(1000)])) as unknown as string))
  t.throws(() => tracker.requestJob({ long: 'x'.repeat(100) } as unknown as string), { message: /got \{ long: 'x{40}.*…$/ })
})

t.test('stages as a string is refused, not taken letter by letter', async (t) => {
  t.throws(() => new BuildTracker({ stages: 'abc' as unknown as string[] }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /stages must be an array of stage names, got "abc"/ })
  await t.rejects(appWith({ stages: 'my_stage' as unknown as string[] }), { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: /stages must be an array of stage names, got "my_stage"/ })
})

t.test('configure reads each value once: a getter cannot pass the check and then set another value', async (t) => {
  const tracker = new BuildTracker()
  let reads = 0
  const flipping = { get concurrent () { return reads++ === 0 ? 4 : -7 } }
  tracker.configure(flipping)
  t.equal(tracker.concurrent, 4)
})

t.test('configure and the constructor refuse a config that is not an object with their code', async (t) => {
  const tracker = new BuildTracker()
  for (const config of [null, undefined, 'runners', 5]) {
    t.throws(() => tracker.configure(config as unknown as TrackerConfig), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /config must be an object \{ runners\?, concurrent\? \}/ })
    t.throws(() => tracker.checkConfig(config as unknown as TrackerConfig), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG' })
  }
  t.ok(new BuildTracker(undefined), 'no options at all is fine')
  t.throws(() => new BuildTracker(null as unknown as undefined), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /options must be an object/ })
  t.throws(() => new BuildTracker({ now: 'soon' as unknown as () => number }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /now must be a function returning seconds, got "soon"/ })
})

t.test('endpoint and jobsList on the same path is an option error naming both, not Fastify\'s duplicate route', async (t) => {
  await t.rejects(appWith({ endpoint: '/debug/jobs/list', jobsList: true }), { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: /option "jobsList" is the path of "endpoint" \("\/debug\/jobs\/list"\); give them different paths/ })
  await t.rejects(appWith({ endpoint: { url: '/x' }, jobsList: '/x' }), { code: 'FST_RUNNER_METRICS_OPTION_INVALID' })
})

t.test('a registration refused halfway leaves no runtime timer running: the event-loop sampler outlived it', async (t) => {
  const running = new Set<unknown>()
  const { setInterval: set, clearInterval: clear } = globalThis
  t.teardown(() => Object.assign(globalThis, { setInterval: set, clearInterval: clear }))
  Object.assign(globalThis, {
    setInterval: (...args: Parameters<typeof set>) => { const timer = set(...args); running.add(timer); return timer },
    clearInterval: (timer: Parameters<typeof clear>[0]) => { running.delete(timer); clear(timer) }
  })
  const registry = new promClient.Registry()
  // The runtime family registered last: everything before it is registered, then refused.
  registry.registerMetric(new promClient.Gauge({ name: 'nodejs_gc_duration_seconds', help: 'taken', registers: [] }))
  await t.rejects(appWith({ registry }), { code: 'FST_RUNNER_METRICS_REGISTRY_CONFLICT' })
  t.equal(running.size, 0, 'no interval left running')
  t.same(registry.getMetricsAsArray().map((metric) => metric.name), ['nodejs_gc_duration_seconds'], 'the registry as it was')
})

// QUERY is routed too, but Fastify answers one without a body 400 before any handler runs.
t.test('every method the instance routes but GET and HEAD is a 405 with Allow, TRACE and added ones too', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHttpMethod('PROPFIND')
  await app.register(runnerMetrics, { defaultMetrics: false, jobsList: true })
  for (const url of ['/metrics', '/debug/jobs/list']) {
    for (const method of ['TRACE', 'PROPFIND', 'OPTIONS', 'POST']) {
      const response = await app.inject({ method: method as 'POST', url })
      t.equal(response.statusCode, 405, `${method} ${url}`)
      t.equal(response.headers.allow, 'GET, HEAD')
    }
  }
})

t.test('a scrape in flight when the app closes is answered in full', async (t) => {
  let arrived!: () => void
  const arrival = new Promise<void>((resolve) => { arrived = resolve })
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const app = Fastify()
  await app.register(runnerMetrics, { endpoint: { url: '/metrics', onRequest: async () => { arrived(); await gate } } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  // No keep-alive (agent: false): a kept-alive socket would hold close() until its timeout.
  const response = new Promise<{ status: number | undefined, body: string }>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: res.statusCode, body }))
    }).on('error', reject)
  })
  await arrival
  const closed = app.close()
  release()
  const answer = await response
  t.equal(answer.status, 200)
  t.match(answer.body, /^runner_metrics_scrapes_in_flight 1$/m)
  await closed
})

type ChurnStep =
  | { kind: 'configure', runners: Array<{ name: string, limit: number, requestConcurrency: number }> }
  | { kind: 'request', runner: string }
  | { kind: 'done', index: number }
  | { kind: 'start', runner: string }
  | { kind: 'finish', index: number }

const CHURN_RUNNERS = ['a', 'b', 'c']
const churnStep: fc.Arbitrary<ChurnStep> = fc.oneof(
  fc.record({
    kind: fc.constant('configure' as const),
    runners: fc.uniqueArray(fc.record({ name: fc.constantFrom(...CHURN_RUNNERS), limit: fc.nat(3), requestConcurrency: fc.integer({ min: 1, max: 3 }) }), { selector: (runner) => runner.name })
  }),
  fc.record({ kind: fc.constant('request' as const), runner: fc.constantFrom(...CHURN_RUNNERS) }),
  fc.record({ kind: fc.constant('done' as const), index: fc.nat(30) }),
  fc.record({ kind: fc.constant('start' as const), runner: fc.constantFrom(...CHURN_RUNNERS) }),
  fc.record({ kind: fc.constant('finish' as const), index: fc.nat(30) })
)

t.test('reconfiguring while builds run and job requests are in flight: every count stays the model\'s, scrape after scrape', async (t) => {
  await t.resolves(fc.assert(fc.asyncProperty(fc.array(churnStep, { maxLength: 40 }), async (steps) => {
    const app = await appWith({ defaultMetrics: false })
    try {
      const requests: Array<{ runner: string, done: () => void, ended: boolean }> = []
      const builds: Array<{ runner: string, finish: () => void, ended: boolean }> = []
      const inFlight = new Map<string, number>()
      const refused = new Map<string, number>()
      const started = new Map<string, number>()
      const finished = new Map<string, number>()
      let config = new Map<string, { limit: number, requestConcurrency: number }>()
      let id = 0
      const add = (map: Map<string, number>, key: string, by = 1): void => { map.set(key, (map.get(key) ?? 0) + by) }
      for (const step of steps) {
        if (step.kind === 'configure') {
          app.builds.configure({ runners: step.runners })
          config = new Map(step.runners.map(({ name, ...rest }) => [name, rest]))
        } else if (step.kind === 'request') {
          const handle = app.builds.requestJob(step.runner)
          const allowed = config.get(step.runner)?.requestConcurrency ?? 1
          if ((inFlight.get(step.runner) ?? 0) >= allowed) {
            if (handle !== undefined) return false
            add(refused, step.runner)
          } else {
            if (handle === undefined) return false
            add(inFlight, step.runner)
            requests.push({ runner: step.runner, done: () => handle.done(), ended: false })
          }
        } else if (step.kind === 'done' && requests.length > 0) {
          const request = requests[step.index % requests.length]!
          request.done()
          if (!request.ended) add(inFlight, request.runner, -1)
          request.ended = true
        } else if (step.kind === 'start') {
          const build = app.builds.start({ id: ++id, runner: step.runner })
          add(started, step.runner)
          builds.push({ runner: step.runner, finish: () => build.finish({ state: 'success' }), ended: false })
        } else if (step.kind === 'finish' && builds.length > 0) {
          const build = builds[step.index % builds.length]!
          build.finish()
          if (!build.ended) add(finished, build.runner)
          build.ended = true
        }
        const samples = parseSamples((await app.inject('/metrics')).body)
        for (const runner of CHURN_RUNNERS) {
          const value = (name: string, labels = ''): number | undefined => samples.get(`${name}{runner="${runner}"${labels}}`)
          const known = samples.has(`runner_request_concurrency{runner="${runner}"}`)
          if (!known) continue
          if (value('runner_request_concurrency') !== (inFlight.get(runner) ?? 0)) return false
          if (value('runner_request_concurrency_exceeded_total') !== (refused.get(runner) ?? 0)) return false
          if (value('runner_limit') !== config.get(runner)?.limit) return false
          if (value('runner_builds_started_total') !== (started.get(runner) ?? 0)) return false
          if (value('runner_builds_finished_total', ',state="success"') !== (finished.get(runner) ?? 0)) return false
        }
      }
      return true
    } finally {
      await app.close()
    }
  }), { numRuns: 100 }))
})

t.test('the text jobs list writes no control or format character raw: an id, url or runner cannot paint a terminal or fake a line', async (t) => {
  const app = await appWith({ defaultMetrics: false, jobsList: true })
  t.teardown(() => app.close())
  const hostile = ['\x1b[2J\x1b[31mred', 'nul\0', 'del\x7f', 'nel\u0085fake id=1', 'rtl\u202Eevil', 'tag\u{E0041}', 'ok\u2028line']
  hostile.forEach((value, index) => app.builds.start({ id: `${index}${value}`, runner: `r${value}`, url: `https://x/${value}` }))
  app.builds.start({ id: 'plain', runner: 'docker-1' })
  const { body } = await app.inject('/debug/jobs/list')
  const lines = body.split('\n')
  t.equal(lines.pop(), '', 'ends with a newline')
  t.equal(lines.length, hostile.length + 1, 'one line per build')
  // The message is the line number: a raw U+2028 in a message would break the TAP stream itself.
  lines.forEach((line, index) => t.notMatch(line, /[\p{Cc}\p{Cf}\u2028\u2029]/u, `line ${index}`))
  t.match(lines[0], /^id="0\\x1b\[2J\\x1b\[31mred" url="https:\/\/x\/\\x1b\[2J\\x1b\[31mred" runner="r\\x1b\[2J\\x1b\[31mred" state=pending /)
  t.match(lines[1], /^id="1nul\\x00" /)
  t.match(lines[2], /^id="2del\\x7f" /)
  t.match(lines[3], /^id="3nel\\x85fake id=1" /)
  t.match(lines[4], /^id="4rtl\\u\{202e\}evil" /)
  t.match(lines[5], /^id="5tag\\u\{e0041\}" /)
  t.match(lines[6], /^id="6ok\\u\{2028\}line" /)
  t.match(lines[7], /^id=plain runner=docker-1 /)
  // The same escapes as main's /debug/jobs/list test: BEL, C1, a backslash and a quote.
  app.builds.start({ id: 'a\x1b[2Jb\x07\x00\x7f\u009b', runner: 'back\\slash"quote' })
  t.match((await app.inject('/debug/jobs/list')).body, /^id="a\\x1b\[2Jb\\x07\\x00\\x7f\\x9b" runner="back\\\\slash\\"quote" state=pending/m)
})

t.test('a clock that goes back (a wall clock injected as now) or answers NaN never makes a histogram sum fall or turn NaN', async (t) => {
  let time = 1000
  const app = await appWith({ tracker: new BuildTracker({ now: () => time }), defaultMetrics: false })
  t.teardown(() => app.close())
  const build = app.builds.start({ id: 1, runner: 'r' })
  build.setStage('get_sources')
  time -= 60 // NTP steps the wall clock back a minute
  build.setStage('step_script')
  time = Number.NaN
  build.finish({ state: 'success' })
  const samples = parseSamples((await app.inject('/metrics')).body)
  t.equal(samples.get('runner_build_stage_duration_seconds_sum{runner="r",stage="get_sources"}'), 0)
  t.equal(samples.get('runner_build_stage_duration_seconds_sum{runner="r",stage="step_script"}'), 0)
  t.equal(samples.get('runner_build_duration_seconds_sum{runner="r"}'), 0)
  t.equal(samples.get('runner_build_duration_seconds_count{runner="r"}'), 1, 'still counted once')
})

t.test('get takes ids as start does: undefined, NaN or an object finds nothing, and never throws', async (t) => {
  const tracker = new BuildTracker()
  for (const id of ['undefined', 'NaN', '[object Object]', 'null']) tracker.start({ id, runner: 'r' })
  for (const id of [undefined, Number.NaN, {}, null, Object.create(null), Symbol('s')]) {
    t.equal(tracker.get(id as string), undefined, String(typeof id))
  }
  t.equal(tracker.get(-0), tracker.get('0'), 'the same key as start')
  t.equal(tracker.get('NaN')?.id, 'NaN')
})

import { gunzipSync } from 'node:zlib'
import fc from 'fast-check'
import t from 'tap'
import { parseAddress } from '../lib/server/address.js'
import { BUILTIN_STAGES, FAILURE_REASONS, FINAL_STATES, type Build } from '../lib/index.js'
import { ConfigError, parseConfig } from '../lib/server/config.js'
import { parseWebConfig } from '../lib/server/web-config.js'
import { appWith, parseSamples, samplesOf, series } from './helpers.js'

const IDS = ['1', '2', '3', '4', '5', '6']
const RUNNERS = ['a', 'b', 'c']
const STAGES = [...BUILTIN_STAGES.slice(0, 5), 'not_a_stage']
const STATES = [...FINAL_STATES, 'running', 'bogus']
const REASONS = [undefined, ...FAILURE_REASONS.slice(0, 3), 'bogus_reason']

type Step =
  | { kind: 'start', id: string, runner: string }
  | { kind: 'stage', id: string, stage: string }
  | { kind: 'finish', id: string, state: string, reason: string | undefined }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), id: fc.constantFrom(...IDS), runner: fc.constantFrom(...RUNNERS) }),
  fc.record({ kind: fc.constant('stage' as const), id: fc.constantFrom(...IDS), stage: fc.constantFrom(...STAGES) }),
  fc.record({ kind: fc.constant('finish' as const), id: fc.constantFrom(...IDS), state: fc.constantFrom(...STATES), reason: fc.constantFrom(...REASONS) })
)

interface ModelBuild { runner: string, state: string, stage: string }

/** The obvious model: live builds in a map, counters in plain objects. */
class Model {
  live = new Map<string, ModelBuild>()
  started = new Map<string, number>()
  finished = new Map<string, number>()
  ignored = { finish_after_finish: 0, set_stage_after_finish: 0 }
}

const bump = (map: Map<string, number>, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1) }

t.test('the tracker matches a simple model after every step of random use and misuse', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
    const app = await appWith({ defaultMetrics: false })
    const model = new Model()
    // Handles by id, finished ones included: misuse goes through the handle the caller kept.
    const handles = new Map<string, Build>()
    try {
      for (const action of steps) {
        const handle = handles.get(action.id)
        if (action.kind === 'start') {
          if (model.live.has(action.id)) {
            t.throws(() => app.builds.start(action), /is already running/)
          } else {
            handles.set(action.id, app.builds.start(action))
            model.live.set(action.id, { runner: action.runner, state: 'pending', stage: 'none' })
            bump(model.started, action.runner)
          }
        } else if (handle === undefined) {
          continue
        } else if (action.kind === 'stage') {
          const live = model.live.get(action.id)
          if (!(BUILTIN_STAGES as readonly string[]).includes(action.stage)) {
            t.throws(() => handle.setStage(action.stage), TypeError)
          } else {
            handle.setStage(action.stage)
            if (live === undefined || handle !== handles.get(action.id)) model.ignored.set_stage_after_finish++
            else Object.assign(live, { state: 'running', stage: action.stage })
          }
        } else {
          const valid = (FINAL_STATES as readonly string[]).includes(action.state) &&
            (action.reason === undefined || ((FAILURE_REASONS as readonly string[]).includes(action.reason) && action.state === 'failed'))
          if (!valid) {
            t.throws(() => handle.finish({ state: action.state as 'success', failureReason: action.reason as 'script_failure' }), TypeError)
          } else {
            const live = model.live.get(action.id)
            handle.finish({ state: action.state as 'success', failureReason: action.reason as 'script_failure' })
            if (live === undefined) {
              model.ignored.finish_after_finish++
            } else {
              model.live.delete(action.id)
              bump(model.finished, live.runner)
            }
          }
        }
        const samples = parseSamples((await app.inject('/metrics')).body)
        const expected = new Map<string, number>()
        for (const build of model.live.values()) bump(expected, series('runner_builds', { runner: build.runner, state: build.state, stage: build.stage }))
        for (const [key, value] of samplesOf(samples, 'runner_builds')) {
          if (value < 0) return false
          if (value !== (expected.get(key) ?? 0)) return false
        }
        for (const [key, value] of expected) if (samples.get(key) !== value) return false
        for (const runner of model.started.keys()) {
          const started = samples.get(series('runner_builds_started_total', { runner }))!
          const finished = FINAL_STATES.reduce((sum, state) => sum + samples.get(series('runner_builds_finished_total', { runner, state }))!, 0)
          const live = [...model.live.values()].filter((build) => build.runner === runner).length
          if (started !== model.started.get(runner) || finished !== (model.finished.get(runner) ?? 0) || started !== finished + live) return false
        }
        if (samples.get(series('runner_build_events_ignored_total', { event: 'finish_after_finish' })) !== model.ignored.finish_after_finish) return false
        if (samples.get(series('runner_build_events_ignored_total', { event: 'set_stage_after_finish' })) !== model.ignored.set_stage_after_finish) return false
      }
      return true
    } finally {
      await app.close()
    }
  }), { numRuns: 150 })
})

t.test('job requests: the gauge is granted minus ended, never negative nor above request_concurrency; refusals are counted', async (t) => {
  const { BuildTracker } = await import('../lib/index.js')
  type RequestStep = { kind: 'request', runner: string } | { kind: 'done', index: number }
  const requestStep: fc.Arbitrary<RequestStep> = fc.oneof(
    fc.record({ kind: fc.constant('request' as const), runner: fc.constantFrom('a', 'b') }),
    fc.record({ kind: fc.constant('done' as const), index: fc.nat({ max: 20 }) })
  )
  fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.array(requestStep, { maxLength: 60 }), (limit, steps) => {
    const tracker = new BuildTracker({ runners: [{ name: 'a', requestConcurrency: limit }] })
    const handles: Array<{ runner: string, done: () => void, ended: boolean }> = []
    const inFlight = new Map([['a', 0], ['b', 0]])
    const refused = new Map([['a', 0], ['b', 0]])
    let doneTwice = 0
    for (const action of steps) {
      if (action.kind === 'request') {
        const handle = tracker.requestJob(action.runner)
        if (handle === undefined) bump(refused, action.runner)
        else { bump(inFlight, action.runner); handles.push({ runner: action.runner, done: () => handle.done(), ended: false }) }
      } else if (handles.length > 0) {
        const handle = handles[action.index % handles.length]!
        handle.done()
        if (handle.ended) doneTwice++
        else { handle.ended = true; inFlight.set(handle.runner, inFlight.get(handle.runner)! - 1) }
      }
      for (const stats of tracker.runners()) {
        if (stats.jobRequests !== inFlight.get(stats.name) || stats.jobRequests < 0 || stats.jobRequests > stats.requestConcurrency) return false
        if (stats.jobRequestsRefused !== refused.get(stats.name)) return false
      }
      if (tracker.ignoredEvents().job_request_done_twice !== doneTwice) return false
    }
    return true
  }), { numRuns: 200 })
})

/** Either loads, or throws the given error class with one line naming the file; nothing else. */
function loadsOrOneLine (load: () => unknown, errorName: string, file: string): boolean {
  try {
    load()
    return true
  } catch (error) {
    const { name, message } = error as Error
    return name === errorName && message.startsWith(`${file}: `) && !message.includes('\n') && message.length < 1000
  }
}

const tomlValue = fc.oneof(
  fc.string(), fc.string({ unit: 'binary' }), fc.integer(), fc.double(), fc.boolean(),
  fc.constantFrom('"127.0.0.1:9252"', '":0"', '"[::1]:99999"', '[1, 2]', '{ a = 1 }', '1979-05-27', '"\\u0000"', 'nan', '-inf', '"a\nb"')
)
const tomlLine = fc.oneof(
  fc.tuple(fc.constantFrom('metrics_server', 'listen_address', 'concurrent', 'log_level', 'web_config_file', 'token', 'url', fc.sample(fc.string(), 1)[0]!), tomlValue).map(([key, value]) => `${key} = ${typeof value === 'string' && !value.startsWith('"') && !/^[[{\d-]|nan|inf/.test(value) ? JSON.stringify(value) : String(value)}`),
  fc.constantFrom('[[runners]]', '[runners]', '[[runners]]\nname = "x"', 'name = "r"', 'limit = -1', 'limit = 2', '[session_server]', 'runners = 3'),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.nat(3000).map((depth) => `deep = ${'['.repeat(depth)}${']'.repeat(depth)}`)
)

t.test('any TOML document either loads or is refused in one line naming the file', async (t) => {
  fc.assert(fc.property(fc.array(tomlLine, { maxLength: 12 }), (lines) => loadsOrOneLine(() => parseConfig(lines.join('\n'), 'fuzz.toml'), 'ConfigError', 'fuzz.toml')), { numRuns: 3000 })
  t.ok(loadsOrOneLine(() => parseConfig(`x = "${'a'.repeat(5_000_000)}"`, 'huge.toml'), 'ConfigError', 'huge.toml'), 'a huge document')
  t.type(ConfigError, 'function')
})

t.test('any listen address string parses to a valid address or is refused in one line', async (t) => {
  const address = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.tuple(fc.oneof(fc.constantFrom('', '127.0.0.1', 'localhost', '[::1]', '::1', '[fe80::1%eth0]', 'a b'), fc.string()), fc.oneof(fc.nat(200000).map(String), fc.string())).map(([host, port]) => `${host}:${port}`),
    fc.string({ maxLength: 2000 })
  )
  fc.assert(fc.property(address, (text) => {
    try {
      const parsed = parseAddress(text)
      return Number.isInteger(parsed.port) && parsed.port >= 0 && parsed.port <= 65535 && (parsed.host === undefined || parsed.host.length > 0)
    } catch (error) {
      return error instanceof TypeError && !(error as Error).message.includes('\n')
    }
  }), { numRuns: 5000 })
  t.pass('no address threw anything else')
})

t.test('any YAML web config either loads or is refused in one line naming the file', async (t) => {
  const yamlLine = fc.oneof(
    fc.constantFrom('tls_server_config:', '  cert_file: x', 'basic_auth_users:', '  u: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG', 'http_server_config:', '  headers:', '    X-Frame-Options: deny', 'a: &a [1]', 'b: *a', 'c: *missing', '- x',
      // Half-written and repeated keys, merges and keys YAML turns into one name.
      'basic_auth_users: ~', '  cert_file:', '  -', '  "": x', '  ~: x', '  1: x', '  "1": x', '<<: {a: 1}', '  <<: [*a]', '  <<: *a', '? [a]', '  client_allowed_sans: []'),
    fc.string({ unit: 'binary', maxLength: 40 })
  )
  await fc.assert(fc.asyncProperty(fc.array(yamlLine, { maxLength: 10 }), async (lines) => {
    try {
      await parseWebConfig(lines.join('\n'), 'fuzz.yml', '/nonexistent')
      return true
    } catch (error) {
      const { name, message } = error as Error
      return name === 'WebConfigError' && message.startsWith('fuzz.yml: ') && !message.includes('\n')
    }
  }), { numRuns: 1000 })
  t.pass('no document threw anything else')
})

t.test('any Accept and Accept-Encoding headers: never a 5xx, the body is what Content-Type and Content-Encoding say', async (t) => {
  const app = await appWith({ defaultMetrics: false, runners: [{ name: 'r' }] })
  t.teardown(() => app.close())
  const mediaRange = fc.oneof(
    fc.constantFrom('*/*', 'text/plain', 'text/*', 'application/openmetrics-text', 'application/openmetrics-text;version=1.0.0', 'application/openmetrics-text;version=0.0.1', 'text/plain;version=0.0.4', 'application/json', ''),
    fc.string({ maxLength: 30 })
  ).chain((range) => fc.option(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }).map((q) => q.toFixed(3)), fc.string({ maxLength: 5 })), { nil: undefined }).map((q) => q === undefined ? range : `${range};q=${q}`))
  const coding = fc.oneof(fc.constantFrom('gzip', 'identity', 'br', 'deflate', '*', 'x-gzip'), fc.string({ maxLength: 10 }))
    .chain((name) => fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }).map((q) => q === undefined ? name : `${name};q=${q.toFixed(2)}`))
  const header = <T>(part: fc.Arbitrary<T>): fc.Arbitrary<string | undefined> => fc.option(fc.array(part, { maxLength: 5 }).map((parts) => parts.join(',')), { nil: undefined })
  await fc.assert(fc.asyncProperty(header(mediaRange), header(coding), async (accept, acceptEncoding) => {
    const headers: Record<string, string> = {}
    if (accept !== undefined) headers.accept = accept.replace(/[^\t\x20-\x7e]/g, '')
    if (acceptEncoding !== undefined) headers['accept-encoding'] = acceptEncoding.replace(/[^\t\x20-\x7e]/g, '')
    const response = await app.inject({ url: '/metrics', headers })
    if (response.statusCode !== 200) return false
    const body = response.headers['content-encoding'] === 'gzip' ? gunzipSync(response.rawPayload).toString() : response.body
    const openMetrics = response.headers['content-type'] === 'application/openmetrics-text; version=1.0.0; charset=utf-8'
    const text = response.headers['content-type'] === 'text/plain; version=0.0.4; charset=utf-8'
    if (!openMetrics && !text) return false
    return openMetrics ? body.endsWith('# EOF\n') && body.includes('runner_builds_started_total{runner="r"} 0') : !body.includes('# EOF') && body.includes('# TYPE runner_builds_started_total counter')
  }), { numRuns: 1000 })
  t.pass('every answer was a 200 in the format it declared')
})

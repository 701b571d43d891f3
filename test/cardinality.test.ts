import fc from 'fast-check'
import t from 'tap'
import { API_ENDPOINTS, BUILTIN_STAGES, BuildTracker, type Naming } from '../lib/index.js'
import { metricName } from '../lib/plugin/naming.js'
import { LINE_BYTES, MAX_VALUE_CHARS, labelValueBytes } from '../lib/tracker/output-budget.js'
import { appWith, parseSamples, samplesOf, series } from './helpers.js'
import { findPromtool, runPromtool } from './promtool.js'

// Cardinality within every cap: the tracker's series may write at most `maxOutputBytes` of
// exposition text, charged when a series is created. These tests hold it to that bound
// through the public API, and check what is refused is counted.

const promtool = findPromtool()
const BUDGET_FULL = 'FST_RUNNER_METRICS_OUTPUT_BUDGET_FULL'
const OPENMETRICS = 'application/openmetrics-text; version=1.0.0'
const STATUSES = [200, 201, 204, 400, 404, 409, 500]

/** The lines of per-runner series in an exposition body: what the tracker's budget covers. */
function runnerLines (body: string): string[] {
  return body.split('\n').filter((line) => /^[a-z_]+\{runner="/.test(line))
}

function bytesOf (lines: string[]): number {
  return lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0)
}

/** A build through every stage of `stages`, then finished; API requests on every endpoint and status. */
function busyRunner (tracker: BuildTracker, runner: string, id: number, stages: readonly string[] = BUILTIN_STAGES): void {
  const build = tracker.start({ id, runner, queueSeconds: 1 })
  for (const stage of stages) build.setStage(stage)
  build.finish({ state: 'success' })
  for (const endpoint of API_ENDPOINTS) for (const status of STATUSES) tracker.apiRequest({ runner, endpoint, status, seconds: 0.3 })
}

t.test('the worst case within every cap stays within the output budget: 1,000 long names with every series made 300 MB scrapes', async (t) => {
  // Names of 256 characters (the cap), each character three UTF-8 bytes: the most bytes a name can have.
  const tracker = new BuildTracker()
  const app = await appWith({ tracker, defaultMetrics: false })
  t.teardown(() => app.close())
  let admitted = 0
  for (let index = 0; index < 1000; index++) {
    const runner = `${index}-`.padEnd(256, 'ラ')
    try {
      busyRunner(tracker, runner, index)
      admitted++
    } catch (error) {
      t.equal((error as { code?: string }).code, BUDGET_FULL, `runner ${index} refused for the budget`)
      break
    }
  }
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  const bytes = Buffer.byteLength(response.body)
  const runnerBytes = bytesOf(runnerLines(response.body))
  // Typically ~16 MiB: the budget, nearly full, and a few kB of fixed families (HELP, TYPE, counts by event).
  t.ok(bytes <= tracker.maxOutputBytes + 64 * 1024, `the scrape is ${bytes} bytes, the budget ${tracker.maxOutputBytes}`)
  t.ok(runnerBytes <= tracker.usedOutputBytes, 'the series wrote no more than was charged')
  t.ok(tracker.usedOutputBytes <= tracker.maxOutputBytes)
  t.ok(admitted > 0 && admitted < 1000, `${admitted} runners admitted`)
})

t.test('the line overhead is the longest line of any family in either naming and format, with the longest number', async (t) => {
  const extra = 'x'.repeat(64)
  const tracker = new BuildTracker({ stages: [extra], runners: [{ name: 'r', limit: 1 }] })
  const apps = await Promise.all((['runner', 'gitlab-runner'] as const).map(async (naming) => await appWith({ tracker, naming, defaultMetrics: false })))
  t.teardown(() => Promise.all(apps.map(async (app) => await app.close())))
  const build = tracker.start({ id: 1, runner: 'r', queueSeconds: 1 })
  for (const stage of [...BUILTIN_STAGES, extra]) build.setStage(stage)
  build.finish({ state: 'failed', failureReason: 'runner_external_dependency_failure' })
  for (const endpoint of API_ENDPOINTS) tracker.apiRequest({ runner: 'r', endpoint, status: 599, seconds: 1 })
  tracker.requestJob('r')
  // A line's bytes (its newline included) beside its runner and stage values, with the longest number in place of its own.
  let longestStageLine = 0
  let longestOther = 0
  for (const app of apps) {
    for (const accept of ['text/plain', OPENMETRICS]) {
      for (const line of runnerLines((await app.inject({ url: '/metrics', headers: { accept } })).body)) {
        const value = line.slice(line.lastIndexOf(' ') + 1)
        const stage = /stage="([^"]*)"/.exec(line)?.[1]
        const fixed = Buffer.byteLength(line) + 1 - labelValueBytes('r') - (stage ?? '').length - value.length + MAX_VALUE_CHARS
        if (stage === undefined) longestOther = Math.max(longestOther, fixed)
        else longestStageLine = Math.max(longestStageLine, fixed)
      }
    }
  }
  t.equal(longestStageLine, LINE_BYTES, 'the charge per line beside the runner name and the longest stage')
  const builtinLongest = Math.max(...BUILTIN_STAGES.map((stage) => stage.length))
  t.ok(longestOther <= LINE_BYTES + builtinLongest, `lines without a stage (${longestOther} bytes) fit the charge with the built-in stages alone (${LINE_BYTES + builtinLongest})`)
  const numbers = [-1.2345678901234567e-6, 1.2345678901234567e-6, -1.2345678901234567e-123, 123456789012345680000, Number.MAX_VALUE, -Number.MIN_VALUE]
  t.equal(MAX_VALUE_CHARS, Math.max(...numbers.map((value) => `${value}`.length)), 'the longest number JavaScript writes')
  t.equal(labelValueBytes('a"b\\c\nラ😀'), Buffer.byteLength('a\\"b\\\\c\\nラ😀'), 'escapes and UTF-8 bytes')
})

/** A label value as the text format writes it: the test's own spelling of the escapes. */
function escapeLabel (value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"')
}

/** Characters that make label values longer on the wire than in JavaScript: escapes and multibyte UTF-8. */
const NAME_UNIT = fc.constantFrom('"', '\\', '\n', 'a', 'é', 'ラ', '😀', '\r', '}')

t.test('what the series write never exceeds what was charged, in both namings and formats, with adversarial names', async (t) => {
  const event = fc.oneof(
    fc.record({ kind: fc.constant('build' as const), runner: fc.nat(5), stages: fc.subarray([...BUILTIN_STAGES], { maxLength: 5 }), seconds: fc.double({ min: 0, max: 1e6, noNaN: true }) }),
    fc.record({ kind: fc.constant('api' as const), runner: fc.nat(5), endpoint: fc.constantFrom(...API_ENDPOINTS), status: fc.integer({ min: 100, max: 599 }), seconds: fc.double({ min: 0, max: 1e6, noNaN: true }) }),
    fc.record({ kind: fc.constant('request' as const), runner: fc.nat(5) }),
    fc.record({ kind: fc.constant('configure' as const), runner: fc.nat(5), limit: fc.nat(1e9) })
  )
  let id = 0
  await t.resolves(fc.assert(fc.asyncProperty(
    fc.uniqueArray(fc.string({ unit: NAME_UNIT, minLength: 1, maxLength: 12 }), { minLength: 6, maxLength: 6 }),
    fc.array(event, { maxLength: 30 }),
    fc.integer({ min: 1_000, max: 200_000 }),
    async (names, events, maxOutputBytes) => {
      let time = 0
      const tracker = new BuildTracker({ maxOutputBytes, now: () => time })
      const longestStage = Math.max(...tracker.stages.map((stage) => stage.length))
      for (const step of events) {
        const runner = names[step.runner]!
        try {
          if (step.kind === 'build') {
            const build = tracker.start({ id: ++id, runner })
            for (const stage of step.stages) { time += step.seconds; build.setStage(stage) }
            build.finish({ state: 'failed', failureReason: 'runner_external_dependency_failure' })
          } else if (step.kind === 'api') {
            tracker.apiRequest({ runner, endpoint: step.endpoint, status: step.status, seconds: step.seconds })
          } else if (step.kind === 'request') {
            tracker.requestJob(runner)
          } else {
            tracker.configure({ runners: [{ name: runner, limit: step.limit }] })
          }
        } catch (error) {
          if ((error as { code?: string }).code !== BUDGET_FULL) throw error
        }
      }
      for (const naming of ['runner', 'gitlab-runner'] as const) {
        const app = await appWith({ tracker, naming, defaultMetrics: false })
        try {
          for (const accept of ['text/plain', OPENMETRICS]) {
            const lines = runnerLines((await app.inject({ url: '/metrics', headers: { accept } })).body)
            if (bytesOf(lines) > tracker.usedOutputBytes || tracker.usedOutputBytes > maxOutputBytes) return false
            // Line by line too: no line, given the longest number and stage, is longer than it is charged, its
            // runner's name escaped as written (the stage histogram's bucket lines are then exactly as long).
            for (const line of lines) {
              const name = names.find((candidate) => line.includes(`{runner="${escapeLabel(candidate)}"`))!
              const value = line.slice(line.lastIndexOf(' ') + 1)
              const stage = /stage="([^"]*)"/.exec(line)?.[1]
              const longest = Buffer.byteLength(line) + 1 - value.length + MAX_VALUE_CHARS + (stage === undefined ? 0 : longestStage - stage.length)
              if (longest > LINE_BYTES + longestStage + labelValueBytes(name)) return false
            }
          }
        } finally {
          await app.close()
        }
      }
      return true
    }), { numRuns: 60 }))
})

/** The refusal counts of a scrape, by family label. */
function refusals (body: string, naming: Naming): Map<string, number> {
  const name = metricName('runner_series_refused_total', naming)
  return new Map([...samplesOf(parseSamples(body), name)].map(([key, value]) => [/family="([^"]*)"/.exec(key)![1]!, value]))
}

t.test('refusals are counted exactly, under the family names of either naming; existing series go on counting', async (t) => {
  // The budget of one runner's fixed series and two stage series, learnt from a tracker with room.
  const probe = new BuildTracker()
  const build = probe.start({ id: 1, runner: 'r' })
  const runnerCost = probe.usedOutputBytes
  build.setStage('prepare_executor')
  build.setStage('get_sources')
  const stageCost = probe.usedOutputBytes - runnerCost
  t.ok(stageCost > 0, 'leaving a stage charged its series')

  const tracker = new BuildTracker({ maxOutputBytes: runnerCost + 2 * stageCost })
  const apps = await Promise.all((['runner', 'gitlab-runner'] as const).map(async (naming) => await appWith({ tracker, naming, defaultMetrics: false })))
  t.teardown(() => Promise.all(apps.map(async (app) => await app.close())))
  const [runnerApp, gitlabApp] = apps as [typeof apps[0], typeof apps[0]]

  const zero = refusals((await runnerApp.inject('/metrics')).body, 'runner')
  t.same(Object.fromEntries(zero), {
    runner: 0,
    runner_build_stage_duration_seconds: 0,
    runner_api_requests_total: 0,
    runner_api_request_duration_seconds: 0
  }, 'every family that can refuse is there at 0')

  const first = tracker.start({ id: 1, runner: 'r' })
  for (const stage of ['prepare_executor', 'get_sources', 'step_script', 'after_script', 'archive_cache']) first.setStage(stage)
  t.equal(first.stage, 'archive_cache', 'the build moves on through refused stages')
  const before = parseSamples((await runnerApp.inject('/metrics')).body)
  t.equal(before.get(series('runner_builds', { runner: 'r', state: 'running', stage: 'archive_cache' })), 1, 'runner_builds has every stage: its slots were reserved with the runner')
  first.finish({ state: 'success' }) // leaves archive_cache: refused
  // Leaving prepare_executor and get_sources made their series; step_script and after_script, then archive_cache, were refused.
  const second = tracker.start({ id: 2, runner: 'r' })
  second.setStage('prepare_executor')
  second.setStage('step_script') // prepare_executor exists: observed
  second.finish({ state: 'success' }) // step_script refused again
  tracker.apiRequest({ runner: 'r', endpoint: 'request_job', status: 201, seconds: 0.1 })
  t.throws(() => tracker.start({ id: 3, runner: 'other' }), { code: BUDGET_FULL, message: /runner "other" does not fit the tracker's output budget: its series take up to \d+ bytes of \/metrics text, \d+ of the \d+ of maxOutputBytes are left/ })
  t.throws(() => tracker.requestJob('other'), { code: BUDGET_FULL })
  t.throws(() => tracker.apiRequest({ runner: 'other', endpoint: 'get_job', status: 200, seconds: 1 }), { code: BUDGET_FULL })
  t.throws(() => tracker.configure({ runners: [{ name: 'r' }, { name: 'other' }] }), { code: BUDGET_FULL })
  t.throws(() => tracker.checkConfig({ runners: [{ name: 'other' }] }), { code: BUDGET_FULL })
  t.same([...tracker.runners()].map((runner) => runner.name), ['r'], 'no runner was added')
  t.same(tracker.refusedSeries(), { runner: 3, build_stage_duration: 4, api_requests: 1, api_request_duration: 1 }, 'configure and checkConfig throw to their caller; events are counted')

  const samples = parseSamples((await runnerApp.inject('/metrics')).body)
  t.same(Object.fromEntries(refusals((await runnerApp.inject('/metrics')).body, 'runner')), {
    runner: 3,
    runner_build_stage_duration_seconds: 4,
    runner_api_requests_total: 1,
    runner_api_request_duration_seconds: 1
  })
  t.same(Object.fromEntries(refusals((await gitlabApp.inject('/metrics')).body, 'gitlab-runner')), {
    runner: 3,
    gitlab_runner_job_stage_duration_seconds: 4,
    gitlab_runner_api_request_statuses_total: 1,
    gitlab_runner_api_request_duration_seconds: 1
  })
  t.equal(samples.get(series('runner_build_stage_duration_seconds_count', { runner: 'r', stage: 'prepare_executor' })), 2, 'an existing series goes on counting')
  t.equal(samples.get(series('runner_build_stage_duration_seconds_count', { runner: 'r', stage: 'get_sources' })), 1)
  t.equal(samplesOf(samples, 'runner_build_stage_duration_seconds_count').size, 2, 'no refused series appears')
  t.equal(samplesOf(samples, 'runner_api_requests_total').size, 0)
  for (const [key, value] of before) {
    if (!key.startsWith('runner_series_refused_total')) t.ok(samples.has(key), `${key} (${value}) is still there`)
  }
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'r' })), 2, 'fixed series count every build')
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'r', state: 'success' })), 2)
  t.equal(samples.get(series('runner_builds', { runner: 'r', state: 'running', stage: 'archive_cache' })), 0)
  t.ok(tracker.usedOutputBytes <= tracker.maxOutputBytes)
})

t.test('the 1001st runner is refused with its code and counted too', async (t) => {
  const tracker = new BuildTracker({ maxRunners: 1 })
  tracker.start({ id: 1, runner: 'a' })
  t.throws(() => tracker.start({ id: 2, runner: 'b' }), { code: 'FST_RUNNER_METRICS_TOO_MANY_RUNNERS' })
  t.throws(() => tracker.requestJob('b'), { code: 'FST_RUNNER_METRICS_TOO_MANY_RUNNERS' })
  t.equal(tracker.refusedSeries().runner, 2)
})

t.test('maxOutputBytes is a positive integer; its default is 16 MiB', async (t) => {
  t.equal(new BuildTracker().maxOutputBytes, 16 * 2 ** 20)
  for (const bad of [0, -1, 1.5, Number.NaN, Infinity, '100', 2 ** 53]) {
    t.throws(() => new BuildTracker({ maxOutputBytes: bad as number }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /maxOutputBytes must be a positive safe integer \(bytes\), got/ })
  }
  t.throws(() => new BuildTracker({ maxOutputBytes: 100, runners: [{ name: 'a' }] }), { code: BUDGET_FULL }, 'configured runners that do not fit are refused at once')
})

t.test('extra stages are capped in number and length: 10,000 of them gave every runner 1.1 MB of counts', async (t) => {
  const many = Array.from({ length: 10_000 }, (_, index) => `stage_${index}`)
  t.throws(() => new BuildTracker({ stages: many }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /stages: at most 64 stages beside GitLab Runner's own, got 10000/ })
  await t.rejects(appWith({ stages: many }), { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: /at most 64 stages/ })
  t.equal(new BuildTracker({ stages: many.slice(0, 64) }).stages.length, BUILTIN_STAGES.length + 64, '64 are fine')
  t.equal(new BuildTracker({ stages: [...many.slice(0, 64), ...BUILTIN_STAGES, 'stage_0'] }).stages.length, BUILTIN_STAGES.length + 64, 'names listed again are not counted twice')
  t.throws(() => new BuildTracker({ stages: ['s'.repeat(65)] }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: /a stage name .* at most 64 characters/ })
  t.ok(new BuildTracker({ stages: ['s'.repeat(64)] }), 'a name of 64 characters is fine')
})

t.test('observations refused for the budget never make runner_builds wrong: live counts stay exact', async (t) => {
  // Random builds over many stages with a budget that runs out: runner_builds is the model's after every step.
  const stages = [...BUILTIN_STAGES]
  await t.resolves(fc.assert(fc.asyncProperty(fc.array(fc.record({ runner: fc.constantFrom('a', 'b', 'c'), stage: fc.constantFrom(...stages, undefined) }), { maxLength: 40 }), fc.integer({ min: 10_000, max: 40_000 }), async (steps, maxOutputBytes) => {
    const tracker = new BuildTracker({ maxOutputBytes })
    const app = await appWith({ tracker, defaultMetrics: false })
    try {
      const live = new Map<string, { runner: string, stage: string, build: ReturnType<BuildTracker['start']> }>()
      let id = 0
      for (const step of steps) {
        const mine = [...live.values()].find((entry) => entry.runner === step.runner)
        try {
          if (mine === undefined) {
            live.set(String(++id), { runner: step.runner, stage: 'none', build: tracker.start({ id, runner: step.runner }) })
          } else if (step.stage === undefined) {
            mine.build.finish({ state: 'success' })
            live.delete(mine.build.id)
          } else {
            mine.build.setStage(step.stage)
            mine.stage = step.stage
          }
        } catch (error) {
          if ((error as { code?: string }).code !== BUDGET_FULL) throw error
        }
        const samples = samplesOf(parseSamples((await app.inject('/metrics')).body), 'runner_builds')
        const expected = new Map<string, number>()
        for (const entry of live.values()) {
          const key = series('runner_builds', { runner: entry.runner, state: entry.stage === 'none' ? 'pending' : 'running', stage: entry.stage })
          expected.set(key, (expected.get(key) ?? 0) + 1)
        }
        for (const [key, value] of samples) if (value !== (expected.get(key) ?? 0)) return false
        for (const [key, value] of expected) if (samples.get(key) !== value) return false
      }
      return true
    } finally {
      await app.close()
    }
  }), { numRuns: 60 }))
})

t.test('refusal counts are promtool-clean in both namings', { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
  const tracker = new BuildTracker({ maxOutputBytes: 20_000 })
  busyRunner(tracker, 'a', 1)
  t.throws(() => tracker.start({ id: 2, runner: 'b' }), { code: BUDGET_FULL })
  for (const naming of ['runner', 'gitlab-runner'] as const) {
    const app = await appWith({ tracker, naming })
    t.teardown(() => app.close())
    const body = (await app.inject('/metrics')).body
    t.ok([...refusals(body, naming).values()].every((count) => count > 0), `every family refused something, naming ${naming}`)
    t.equal(runPromtool(['check', 'metrics'], body).output, '', `no findings, naming ${naming}`)
  }
})

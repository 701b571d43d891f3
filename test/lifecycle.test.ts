import t from 'tap'
import { DURATION_BUCKETS, FAILURE_REASONS, FINAL_STATES } from '../lib/index.js'
import { appWith, samplesOf, scrape, series } from './helpers.js'

function clock (): { now: () => number, advance: (seconds: number) => void } {
  let time = 0
  return { now: () => time, advance: (seconds) => { time += seconds } }
}

t.test('configured runners have every series at zero before their first build', async (t) => {
  const app = await appWith({ runners: [{ name: 'docker-1', limit: 4 }, { name: 'idle' }], concurrent: 10 })
  t.teardown(() => app.close())
  const samples = await scrape(app)
  for (const runner of ['docker-1', 'idle']) {
    t.equal(samples.get(series('runner_builds', { runner, state: 'pending', stage: 'none' })), 0)
    t.equal(samples.get(series('runner_builds_started_total', { runner })), 0)
    for (const state of FINAL_STATES) t.equal(samples.get(series('runner_builds_finished_total', { runner, state })), 0, `${runner} ${state}`)
    for (const reason of FAILURE_REASONS) t.equal(samples.get(series('runner_build_failures_total', { runner, failure_reason: reason })), 0)
    t.equal(samples.get(series('runner_build_duration_seconds_count', { runner })), 0)
    t.equal(samples.get(series('runner_build_duration_seconds_bucket', { runner, le: '+Inf' })), 0)
  }
  t.equal(samples.get('runner_concurrent'), 10)
  t.equal(samples.get(series('runner_limit', { runner: 'docker-1' })), 4)
  t.equal(samplesOf(samples, 'runner_limit').size, 1, 'a runner without a limit has no runner_limit series')
})

t.test('no concurrent option, no runner_concurrent sample', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  t.equal(samplesOf(await scrape(app), 'runner_concurrent').size, 0)
})

t.test('a scripted lifecycle gives exact counts for every state and reason', async (t) => {
  const time = clock()
  const app = await appWith({ runners: [{ name: 'a' }] })
  t.teardown(() => app.close())
  // The app's tracker uses the real clock; this test only counts, so that is fine.
  let id = 0
  const expectedFailures = new Map<string, number>()
  for (const reason of FAILURE_REASONS) {
    for (let i = 0; i <= FAILURE_REASONS.indexOf(reason); i++) {
      const build = app.builds.start({ id: ++id, runner: 'a' })
      build.setStage('step_script')
      build.finish({ state: 'failed', failureReason: reason })
    }
    expectedFailures.set(reason, FAILURE_REASONS.indexOf(reason) + 1)
  }
  for (let i = 0; i < 5; i++) app.builds.start({ id: ++id, runner: 'b' }).finish({ state: 'success' })
  for (let i = 0; i < 2; i++) app.builds.start({ id: ++id, runner: 'b' }).finish({ state: 'canceled' })
  app.builds.start({ id: ++id, runner: 'b' }).finish({ state: 'timedout' })
  app.builds.start({ id: ++id, runner: 'b' }).finish({ state: 'failed' })
  const live = app.builds.start({ id: ++id, runner: 'b' })
  live.setStage('archive_cache')
  time.advance(1)

  const samples = await scrape(app)
  const failedOnA = FAILURE_REASONS.length * (FAILURE_REASONS.length + 1) / 2
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'a' })), failedOnA)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'a', state: 'failed' })), failedOnA)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'a', state: 'success' })), 0)
  for (const [reason, count] of expectedFailures) {
    t.equal(samples.get(series('runner_build_failures_total', { runner: 'a', failure_reason: reason })), count, reason)
  }
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'b' })), 10)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'b', state: 'success' })), 5)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'b', state: 'canceled' })), 2)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'b', state: 'timedout' })), 1)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'b', state: 'failed' })), 1)
  t.equal(samples.get(series('runner_build_failures_total', { runner: 'b', failure_reason: 'unknown_failure' })), 1)
  t.equal(samples.get(series('runner_builds', { runner: 'b', state: 'running', stage: 'archive_cache' })), 1)
  t.equal(samples.get(series('runner_builds', { runner: 'a', state: 'running', stage: 'step_script' })), 0)
  t.equal(samples.get(series('runner_build_duration_seconds_count', { runner: 'b' })), 9)
  t.equal(samples.get(series('runner_build_events_ignored_total', { event: 'finish_after_finish' })), 0)
  for (const runner of ['a', 'b']) {
    let finished = 0
    for (const state of FINAL_STATES) finished += samples.get(series('runner_builds_finished_total', { runner, state }))!
    let live = 0
    for (const [key, value] of samplesOf(samples, 'runner_builds')) if (key.includes(`runner="${runner}"`)) live += value
    t.equal(samples.get(series('runner_builds_started_total', { runner })), finished + live, `started = finished + live on ${runner}`)
  }
})

t.test('durations land in the right histogram buckets', async (t) => {
  const { BuildTracker } = await import('../lib/index.js')
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const app = await appWith({ tracker })
  t.teardown(() => app.close())
  // One build at each bucket bound (inclusive), one just above it, and one beyond the last.
  const durations = [...DURATION_BUCKETS.flatMap((bound) => [bound, bound + 0.5]), 50000]
  durations.forEach((seconds, index) => {
    const build = tracker.start({ id: index, runner: 'r' })
    time.advance(seconds)
    build.finish({ state: 'success' })
  })
  const samples = await scrape(app)
  DURATION_BUCKETS.forEach((bound, index) => {
    t.equal(samples.get(series('runner_build_duration_seconds_bucket', { runner: 'r', le: bound })), 2 * index + 1, `le=${bound}`)
  })
  t.equal(samples.get(series('runner_build_duration_seconds_bucket', { runner: 'r', le: '+Inf' })), durations.length)
  t.equal(samples.get(series('runner_build_duration_seconds_count', { runner: 'r' })), durations.length)
  t.equal(samples.get(series('runner_build_duration_seconds_sum', { runner: 'r' })), durations.reduce((sum, seconds) => sum + seconds, 0))
})

t.test('misuse is counted in runner_build_events_ignored_total and never double counts', async (t) => {
  const app = await appWith()
  t.teardown(() => app.close())
  const build = app.builds.start({ id: 1, runner: 'r' })
  build.finish({ state: 'success' })
  build.finish({ state: 'success' })
  build.setStage('step_script')
  const samples = await scrape(app)
  t.equal(samples.get(series('runner_build_events_ignored_total', { event: 'finish_after_finish' })), 1)
  t.equal(samples.get(series('runner_build_events_ignored_total', { event: 'set_stage_after_finish' })), 1)
  t.equal(samples.get(series('runner_builds_finished_total', { runner: 'r', state: 'success' })), 1)
  t.equal(samples.get(series('runner_build_duration_seconds_count', { runner: 'r' })), 1)
})

t.test('jobs list: one line per running build with its url as GitLab Runner\'s, or JSON when asked', async (t) => {
  const { BuildTracker } = await import('../lib/index.js')
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const app = await appWith({ tracker, jobsList: true })
  t.teardown(() => app.close())
  const first = tracker.start({ id: 1042, runner: 'docker-1', url: 'https://gitlab.example.com/group/project/-/jobs/1042' })
  time.advance(1)
  first.setStage('get_sources')
  time.advance(2.5)
  tracker.start({ id: 'x y', runner: 'my runner' })
  tracker.start({ id: 9, runner: 'gone' }).finish({ state: 'success' })
  time.advance(0.25)

  const text = await app.inject('/debug/jobs/list')
  t.equal(text.statusCode, 200)
  t.equal(text.headers['x-list-version'], '2')
  t.match(text.headers['content-type'], /^text\/plain/)
  t.equal(text.body, [
    'id=1042 url=https://gitlab.example.com/group/project/-/jobs/1042 runner=docker-1 state=running stage=get_sources duration=3.750s',
    'id="x y" runner="my runner" state=pending stage=none duration=0.250s',
    ''
  ].join('\n'))

  const json = await app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })
  t.match(json.headers['content-type'], /^application\/json/)
  t.equal(json.headers['x-list-version'], '2')
  t.same(json.json(), {
    builds: [
      { id: '1042', url: 'https://gitlab.example.com/group/project/-/jobs/1042', runner: 'docker-1', state: 'running', stage: 'get_sources', duration_seconds: 3.75, stage_duration_seconds: 2.75 },
      { id: 'x y', runner: 'my runner', state: 'pending', stage: 'none', duration_seconds: 0.25, stage_duration_seconds: 0.25 }
    ],
    builds_total: 2
  })
  t.equal(json.headers['x-builds-total'], '2')
})

t.test('jobs list at a path of your choice; none by default', async (t) => {
  const custom = await appWith({ jobsList: '/jobs' })
  const none = await appWith()
  t.teardown(async () => { await custom.close(); await none.close() })
  t.equal((await custom.inject('/jobs')).body, '')
  t.equal((await none.inject('/debug/jobs/list')).statusCode, 404)
})

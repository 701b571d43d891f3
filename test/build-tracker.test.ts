import t, { type Test } from 'tap'
import { API_ENDPOINTS, BuildTracker, BUILTIN_STAGES, FAILURE_REASONS, FINAL_STATES, STAGE_BUCKETS } from '../lib/index.js'

/** Asserts that `fn` throws a TypeError (FastifyError by class, TypeError by lineage) whose message is `message`. */
function throwsTypeError (t: Test, fn: () => unknown, message: string | RegExp): void {
  t.throws(fn, { message })
  try { fn() } catch (error) { t.ok(error instanceof TypeError, 'a TypeError') }
}

function clock (start = 100): { now: () => number, advance: (seconds: number) => void } {
  let time = start
  return { now: () => time, advance: (seconds) => { time += seconds } }
}

t.test('a build moves from pending to running and ends in a final state', async (t) => {
  const tracker = new BuildTracker()
  const build = tracker.start({ id: '1042', runner: 'docker-1' })
  t.equal(build.state, 'pending')
  t.equal(build.stage, 'none')
  t.equal(build.runner, 'docker-1')
  build.setStage('get_sources')
  t.equal(build.state, 'running')
  t.equal(build.stage, 'get_sources')
  t.equal(tracker.liveCount, 1)
  t.equal(tracker.get(1042), build, 'numeric ids find the build too')
  build.finish({ state: 'success' })
  t.equal(build.state, 'success')
  t.equal(build.finished, true)
  t.equal(tracker.liveCount, 0)
  t.equal(tracker.get('1042'), undefined)
})

t.test('numeric ids are kept as strings', async (t) => {
  const tracker = new BuildTracker()
  t.equal(tracker.start({ id: 7, runner: 'shell' }).id, '7')
})

/** Observations per stage of a runner's stage histogram: [count, sum] for each stage that has any. */
function stageObservations (tracker: BuildTracker, runner = 'r'): Record<string, [number, number]> {
  const stats = [...tracker.runners()].find((candidate) => candidate.name === runner)!
  const observed: Record<string, [number, number]> = {}
  tracker.stages.forEach((stage, index) => {
    const count = stats.stages.countsOf(index).reduce((sum, bucket) => sum + bucket, 0)
    if (count > 0) observed[stage] = [count, stats.stages.sums[index]!]
  })
  return observed
}

t.test('durations follow the injected monotonic clock; leaving a stage observes its time', async (t) => {
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const build = tracker.start({ id: 1, runner: 'r' })
  time.advance(2)
  t.equal(build.stageDuration, 2, 'pending time while no stage is entered')
  build.setStage('prepare_executor')
  time.advance(3)
  t.equal(build.stageDuration, 3, 'the current stage counts while it runs')
  t.same(stageObservations(tracker), {}, 'pending is not a stage: nothing observed yet')
  build.setStage('prepare_executor')
  t.equal(build.stageDuration, 3, 'entering the stage the build is in changes nothing')
  build.setStage('step_script')
  time.advance(10)
  build.setStage('prepare_executor')
  time.advance(1)
  t.equal(build.duration, 16)
  t.same(stageObservations(tracker), { prepare_executor: [1, 3], step_script: [1, 10] })
  build.finish({ state: 'failed', failureReason: 'script_failure' })
  time.advance(100)
  t.equal(build.duration, 16, 'a finished build keeps its duration')
  t.equal(build.stageDuration, 0)
  t.equal(build.stage, 'none', 'a finished build is in no stage')
  t.same(stageObservations(tracker), { prepare_executor: [2, 4], step_script: [1, 10] }, 'finishing leaves the last stage')
})

t.test('a build finished while pending observes no stage', async (t) => {
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const build = tracker.start({ id: 1, runner: 'r' })
  time.advance(5)
  build.finish({ state: 'canceled' })
  t.same(stageObservations(tracker), {})
  t.equal(build.duration, 5)
})

t.test('stage times land in GitLab Runner\'s stage buckets, bounds inclusive', async (t) => {
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const build = tracker.start({ id: 1, runner: 'r' })
  for (const seconds of [1, 1.5, 3600, 3601]) {
    build.setStage('step_script')
    time.advance(seconds)
    build.setStage('after_script')
  }
  const [runner] = tracker.runners()
  const counts = [...runner!.stages.countsOf(tracker.stages.indexOf('step_script'))]
  t.same(counts, [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1], `buckets ${STAGE_BUCKETS.join(', ')}, +Inf`)
})

t.test('start takes the queue time and the job URL', async (t) => {
  const tracker = new BuildTracker()
  const build = tracker.start({ id: 1, runner: 'r', queueSeconds: 12.5, url: 'https://gitlab.example.com/g/p/-/jobs/1' })
  tracker.start({ id: 2, runner: 'r', queueSeconds: 0 })
  tracker.start({ id: 3, runner: 'r' })
  t.equal(build.url, 'https://gitlab.example.com/g/p/-/jobs/1')
  t.equal(tracker.get(3)!.url, undefined)
  const [runner] = tracker.runners()
  t.same([...runner!.queue.counts], [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], 'a build without queueSeconds observes nothing')
  t.equal(runner!.queue.sums[0], 12.5)
  for (const queueSeconds of [-1, Number.NaN, Infinity, '3' as unknown as number]) {
    t.throws(() => tracker.start({ id: 9, runner: 'r', queueSeconds }), { code: 'FST_RUNNER_METRICS_INVALID_VALUE', message: /^build 9: queueSeconds must be a non-negative number of seconds, got / })
  }
  t.throws(() => tracker.start({ id: 9, runner: 'r', url: 42 as unknown as string }), { message: 'build 9: url must be a string, got 42' })
  t.equal(tracker.liveCount, 3, 'refused starts start nothing')
})

t.test('terminated is a final state', async (t) => {
  const tracker = new BuildTracker()
  const build = tracker.start({ id: 1, runner: 'r' })
  build.finish({ state: 'terminated' })
  t.equal(build.state, 'terminated')
  const [runner] = tracker.runners()
  t.same([...runner!.finished], FINAL_STATES.map((state) => state === 'terminated' ? 1 : 0))
})

t.test('apiRequest counts by endpoint and status and observes the duration', async (t) => {
  const tracker = new BuildTracker()
  tracker.apiRequest({ runner: 'r', endpoint: 'request_job', status: 204, seconds: 0.2 })
  tracker.apiRequest({ runner: 'r', endpoint: 'request_job', status: 204, seconds: 0.3 })
  tracker.apiRequest({ runner: 'r', endpoint: 'request_job', status: 201, seconds: 1 })
  tracker.apiRequest({ runner: 'r', endpoint: 'get_job', status: 599, seconds: 100 })
  tracker.apiRequest({ runner: 'r', endpoint: 'update_job', status: 100, seconds: 0 })
  const [runner] = tracker.runners()
  t.same([...runner!.apiRequests], [[204, 2], [201, 1], [7599, 1], [1100, 1]], 'endpoint index * 1000 + status')
  t.equal(runner!.apiDurations.countsOf(0).reduce((sum, bucket) => sum + bucket, 0), 3)
  t.equal(runner!.apiDurations.sums[0], 1.5)
  t.same([...runner!.apiDurations.countsOf(API_ENDPOINTS.indexOf('get_job'))], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 'above 60 s: +Inf')
})

t.test('apiRequest refuses values that would unbound the labels, with a TypeError naming the allowed ones', async (t) => {
  const tracker = new BuildTracker()
  const good = { runner: 'r', endpoint: 'request_job', status: 200, seconds: 1 } as const
  throwsTypeError(t, () => tracker.apiRequest({ ...good, endpoint: 'jobs' as 'get_job' }), `apiRequest: endpoint "jobs" is not allowed; allowed: ${API_ENDPOINTS.join(', ')}`)
  for (const status of [99, 600, 200.5, '200' as unknown as number]) {
    t.throws(() => tracker.apiRequest({ ...good, status }), { name: 'TypeError', code: 'FST_RUNNER_METRICS_INVALID_VALUE', message: `apiRequest: status must be an HTTP status code, an integer from 100 to 599, got ${JSON.stringify(status)}` })
  }
  t.throws(() => tracker.apiRequest({ ...good, seconds: -0.1 }), /apiRequest: seconds must be a non-negative number of seconds, got -0.1/)
  t.throws(() => tracker.apiRequest({ ...good, runner: '' }), { code: 'FST_RUNNER_METRICS_INVALID_RUNNER', message: 'apiRequest: runner must be a non-empty string, got ""' })
  throwsTypeError(t, () => tracker.apiRequest(undefined as unknown as typeof good), /apiRequest: runner must be a non-empty string, got undefined/)
  t.equal([...tracker.runners()].length, 0, 'nothing counted, no runner made')
})

t.test('requestJob grants up to requestConcurrency requests and counts refusals', async (t) => {
  const tracker = new BuildTracker({ runners: [{ name: 'wide', requestConcurrency: 2 }] })
  const first = tracker.requestJob('narrow')
  t.ok(first, 'the default request_concurrency is 1')
  t.equal(tracker.requestJob('narrow'), undefined)
  const wide = [tracker.requestJob('wide'), tracker.requestJob('wide'), tracker.requestJob('wide')]
  t.same(wide.map((request) => request !== undefined), [true, true, false])
  const stats = new Map([...tracker.runners()].map((runner) => [runner.name, runner]))
  t.same([stats.get('narrow')!.jobRequests, stats.get('narrow')!.jobRequestsRefused], [1, 1])
  t.same([stats.get('wide')!.jobRequests, stats.get('wide')!.jobRequestsRefused], [2, 1])
  first!.done()
  first!.done()
  t.equal(stats.get('narrow')!.jobRequests, 0, 'done twice never makes the gauge negative')
  t.equal(tracker.ignoredEvents().job_request_done_twice, 1, 'the second done is counted')
  t.ok(tracker.requestJob('narrow'), 'a slot is free again')
  t.throws(() => tracker.requestJob('' as string), { code: 'FST_RUNNER_METRICS_INVALID_RUNNER', message: 'requestJob: runner must be a non-empty string, got ""' })
})

t.test('configure sets requestConcurrency and refuses a bad one; a runner that leaves goes back to 1', async (t) => {
  const tracker = new BuildTracker({ runners: [{ name: 'a', requestConcurrency: 3 }] })
  const [a] = tracker.runners()
  t.equal(a!.requestConcurrency, 3)
  tracker.configure({ runners: [] })
  t.equal(a!.requestConcurrency, 1)
  for (const requestConcurrency of [0, 1.5, -1]) {
    t.throws(() => tracker.configure({ runners: [{ name: 'a', requestConcurrency }] }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: `runners: requestConcurrency of runner "a" must be an integer of at least 1, got ${requestConcurrency}` })
  }
})

t.test('extra stages are allowed through the stages option', async (t) => {
  const tracker = new BuildTracker({ stages: ['custom_upload', 'get_sources'] })
  t.same(tracker.stages, [...BUILTIN_STAGES, 'custom_upload'], 'a built-in stage listed again is not added twice')
  const build = tracker.start({ id: 1, runner: 'r' })
  build.setStage('custom_upload')
  t.equal(build.stage, 'custom_upload')
})

t.test('bad stage names in the stages option are refused', async (t) => {
  t.throws(() => new BuildTracker({ stages: ['Has Spaces'] }), /stage "Has Spaces" is not allowed/)
  t.throws(() => new BuildTracker({ stages: ['none'] }), /is not "none"/)
  t.throws(() => new BuildTracker({ stages: [42 as unknown as string] }), /stage 42 is not allowed/)
})

t.test('unknown stage, state or reason: a TypeError naming the allowed values, nothing counted', async (t) => {
  const tracker = new BuildTracker()
  const build = tracker.start({ id: 1, runner: 'r' })
  throwsTypeError(t, () => build.setStage('compile'), `stage "compile" is not allowed; allowed: ${BUILTIN_STAGES.join(', ')} (add more with the stages option)`)
  t.throws(() => build.setStage('compile'), { code: 'FST_RUNNER_METRICS_INVALID_STAGE' })
  t.equal(build.stage, 'none')
  t.throws(() => build.finish({ state: 'running' as 'success' }), { code: 'FST_RUNNER_METRICS_INVALID_STATE', message: /state "running" is not a final state; allowed: success, failed, canceled, timedout, terminated/ })
  t.ok((() => { try { build.finish({ state: 'x' as 'success' }) } catch (error) { return error instanceof TypeError } })(), 'still a TypeError')
  t.throws(() => build.finish(undefined as unknown as { state: 'success' }), /state undefined is not a final state/)
  throwsTypeError(t, () => build.finish({ state: 'failed', failureReason: 'oops' as 'script_failure' }), `build 1: failureReason "oops" is not allowed; allowed: ${FAILURE_REASONS.join(', ')}`)
  t.throws(() => build.finish({ state: 'success', failureReason: 'script_failure' }), /failureReason is only allowed with state "failed", not "success"/)
  t.equal(build.finished, false)
  t.equal(tracker.liveCount, 1)
  const [runner] = tracker.runners()
  t.equal(runner!.live[0], 1, 'the build is still counted once, as pending')
  t.same([...runner!.finished], [0, 0, 0, 0, 0])
})

t.test('finishing twice or changing stage after finish: ignored and counted', async (t) => {
  const tracker = new BuildTracker()
  const build = tracker.start({ id: 1, runner: 'r' })
  build.finish({ state: 'failed' })
  build.finish({ state: 'success' })
  build.setStage('step_script')
  build.setStage('step_script')
  t.same(tracker.ignoredEvents(), { finish_after_finish: 1, set_stage_after_finish: 2, job_request_done_twice: 0 })
  t.equal(build.state, 'failed')
  const [runner] = tracker.runners()
  t.same([...runner!.finished], [0, 1, 0, 0, 0], 'one finish only')
  t.same([...runner!.failures], [0, 0, 0, 0, 1, 0, 0, 0, 0], 'a failure without a reason is unknown_failure')
  t.ok(runner!.live.every((count) => count === 0), 'no live build, no negative count')
})

t.test('a live id cannot be started again; a finished one can', async (t) => {
  const tracker = new BuildTracker()
  const first = tracker.start({ id: 'a', runner: 'r1' })
  t.throws(() => tracker.start({ id: 'a', runner: 'r2' }), { code: 'FST_RUNNER_METRICS_BUILD_RUNNING', message: 'build a is already running on runner "r1"; finish it before starting it again' })
  t.equal([...tracker.runners()].length, 1, 'the refused start created nothing')
  first.finish({ state: 'success' })
  const second = tracker.start({ id: 'a', runner: 'r2' })
  first.finish({ state: 'success' })
  t.equal(tracker.get('a'), second, 'finishing the old handle again does not touch the new build')
})

t.test('bad ids and runner names are refused', async (t) => {
  const tracker = new BuildTracker()
  t.throws(() => tracker.start({ id: '', runner: 'r' }), /build id must be a non-empty string or a number, got ""/)
  t.throws(() => tracker.start({ id: Number.NaN, runner: 'r' }), /build id must be/)
  t.throws(() => tracker.start(undefined as unknown as { id: string, runner: string }), /build id must be/)
  t.throws(() => tracker.start({ id: 'x', runner: '' }), /build x: runner must be a non-empty string/)
  t.equal(tracker.liveCount, 0)
})

t.test('runner cardinality is bounded', async (t) => {
  const tracker = new BuildTracker({ maxRunners: 2 })
  tracker.start({ id: 1, runner: 'a' })
  tracker.start({ id: 2, runner: 'b' })
  tracker.start({ id: 3, runner: 'a' })
  t.throws(() => tracker.start({ id: 4, runner: 'c' }), { code: 'FST_RUNNER_METRICS_TOO_MANY_RUNNERS', message: /runner "c" would be runner number 3; the tracker accepts at most 2 \(the maxRunners option\)/ })
  t.equal(tracker.liveCount, 3)
  t.throws(() => new BuildTracker({ maxRunners: 0 }), /maxRunners must be a positive integer, got 0/)
})

t.test('configure sets limits and concurrent and keeps counters of runners that leave', async (t) => {
  const tracker = new BuildTracker({ runners: [{ name: 'a', limit: 2 }, { name: 'b' }], concurrent: 4 })
  tracker.start({ id: 1, runner: 'a' })
  tracker.configure({ runners: [{ name: 'b', limit: 1 }] })
  const byName = new Map([...tracker.runners()].map((runner) => [runner.name, runner]))
  t.equal(byName.get('a')!.limit, undefined)
  t.equal(byName.get('a')!.started, 1)
  t.equal(byName.get('b')!.limit, 1)
  t.equal(tracker.concurrent, undefined)
})

t.test('configure refuses bad runner configuration', async (t) => {
  const tracker = new BuildTracker()
  t.throws(() => tracker.configure({ concurrent: -1 }), /concurrent must be a non-negative integer, got -1/)
  t.throws(() => tracker.configure({ runners: 'a' as unknown as [] }), /runners must be an array/)
  t.throws(() => tracker.configure({ runners: [null as unknown as { name: string }] }), /every runner needs a non-empty string name, got undefined/)
  t.throws(() => tracker.configure({ runners: [{ name: 'a', limit: 1.5 }] }), /limit of runner "a" must be a non-negative integer, got 1.5/)
  t.throws(() => tracker.configure({ runners: [{ name: 'a' }, { name: 'a' }] }), /runner "a" is listed twice/)
})

t.test('times are kept to the millisecond and a job URL only while the build is live', async (t) => {
  let now = 1000.0004
  const tracker = new BuildTracker({ now: () => now })
  const build = tracker.start({ id: 7, runner: 'r', url: 'https://gitlab.example/j/7' })
  const plain = tracker.start({ id: 8, runner: 'r' })
  t.equal(build.startedAt, 1000.0004, 'the epoch is the tracker\'s first reading')
  now = 1002.2506
  t.equal(build.url, 'https://gitlab.example/j/7')
  t.equal(plain.url, undefined)
  build.setStage('step_script')
  now = 1003.5
  build.finish({ state: 'success' })
  t.equal(Math.round(build.duration * 1000), 3500, 'start to finish, to the millisecond')
  t.equal(build.url, undefined, 'the URL goes with the live build')
})

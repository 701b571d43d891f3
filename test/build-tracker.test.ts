import t from 'tap'
import { BuildTracker, BUILTIN_STAGES, FAILURE_REASONS } from '../lib/index.js'

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

t.test('durations follow the injected monotonic clock', async (t) => {
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const build = tracker.start({ id: 1, runner: 'r' })
  time.advance(2)
  t.same(build.stageDurations(), {}, 'no stage entered yet')
  build.setStage('prepare_executor')
  time.advance(3)
  t.same(build.stageDurations(), { prepare_executor: 3 }, 'the current stage counts while it runs')
  build.setStage('step_script')
  time.advance(10)
  build.setStage('prepare_executor')
  time.advance(1)
  t.equal(build.duration, 16)
  build.finish({ state: 'failed', failureReason: 'script_failure' })
  time.advance(100)
  t.equal(build.duration, 16, 'a finished build keeps its duration')
  t.same(build.stageDurations(), { prepare_executor: 4, step_script: 10 })
})

t.test('a build finished while pending has no stage durations', async (t) => {
  const time = clock()
  const tracker = new BuildTracker({ now: time.now })
  const build = tracker.start({ id: 1, runner: 'r' })
  time.advance(5)
  build.finish({ state: 'canceled' })
  t.same(build.stageDurations(), {})
  t.equal(build.duration, 5)
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
  t.throws(() => build.setStage('compile'), new TypeError(`stage "compile" is not allowed; allowed: ${BUILTIN_STAGES.join(', ')} (add more with the stages option)`))
  t.equal(build.stage, 'none')
  t.throws(() => build.finish({ state: 'running' as 'success' }), { name: 'TypeError', message: /state "running" is not a final state; allowed: success, failed, canceled, timedout/ })
  t.throws(() => build.finish(undefined as unknown as { state: 'success' }), /state undefined is not a final state/)
  t.throws(() => build.finish({ state: 'failed', failureReason: 'oops' as 'script_failure' }), new TypeError(`build 1: failureReason "oops" is not allowed; allowed: ${FAILURE_REASONS.join(', ')}`))
  t.throws(() => build.finish({ state: 'success', failureReason: 'script_failure' }), /failureReason is only allowed with state "failed", not "success"/)
  t.equal(build.finished, false)
  t.equal(tracker.liveCount, 1)
  const [runner] = tracker.runners()
  t.equal(runner!.live[0], 1, 'the build is still counted once, as pending')
  t.same([...runner!.finished], [0, 0, 0, 0])
})

t.test('finishing twice or changing stage after finish: ignored and counted', async (t) => {
  const tracker = new BuildTracker()
  const build = tracker.start({ id: 1, runner: 'r' })
  build.finish({ state: 'failed' })
  build.finish({ state: 'success' })
  build.setStage('step_script')
  build.setStage('step_script')
  t.same(tracker.ignoredEvents(), { finish_after_finish: 1, set_stage_after_finish: 2 })
  t.equal(build.state, 'failed')
  const [runner] = tracker.runners()
  t.same([...runner!.finished], [0, 1, 0, 0], 'one finish only')
  t.same([...runner!.failures], [0, 0, 0, 0, 1, 0, 0, 0, 0], 'a failure without a reason is unknown_failure')
  t.ok(runner!.live.every((count) => count === 0), 'no live build, no negative count')
})

t.test('a live id cannot be started again; a finished one can', async (t) => {
  const tracker = new BuildTracker()
  const first = tracker.start({ id: 'a', runner: 'r1' })
  t.throws(() => tracker.start({ id: 'a', runner: 'r2' }), /build a is already running on runner "r1"; finish it before starting it again/)
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
  t.throws(() => tracker.start({ id: 4, runner: 'c' }), /runner "c" would be runner number 3; the tracker accepts at most 2 \(the maxRunners option\)/)
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

// Child: build-event hot path, `start -> 4 x setStage -> finish` cycles per second.
// usage: node bench/hot-path.mjs tracker|prom-client WARMUP_MS RUN_MS RUNS
//
// Builds go in waves of WAVE builds spread over RUNNER_COUNT runners: a wave starts all its
// builds, moves each through the 4 stages of CYCLE_STAGES, then finishes each (rotating the
// final states of FINISHES), so label lookups and the live map see many builds at once.
import * as promClient from 'prom-client'
import { BuildTracker, DURATION_BUCKETS } from 'fastify-runner-metrics'
import { CYCLE_STAGES, FINISHES, RUNNER_COUNT, promClientBookkeeping, reportFromChild, runnerNames } from './common.mjs'

const WAVE = 100
const [impl, warmupMs, runMs, runs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])]
const runners = runnerNames(RUNNER_COUNT)
const handles = new Array(WAVE)

function trackerWave (tracker, firstId) {
  for (let i = 0; i < WAVE; i++) handles[i] = tracker.start({ id: firstId + i, runner: runners[i % RUNNER_COUNT] })
  for (let s = 0; s < CYCLE_STAGES.length; s++) {
    const stage = CYCLE_STAGES[s]
    for (let i = 0; i < WAVE; i++) handles[i].setStage(stage)
  }
  for (let i = 0; i < WAVE; i++) handles[i].finish(FINISHES[(firstId + i) % FINISHES.length])
}

function promClientWave (books, firstId) {
  for (let i = 0; i < WAVE; i++) handles[i] = books.start({ id: firstId + i, runner: runners[i % RUNNER_COUNT] })
  for (let s = 0; s < CYCLE_STAGES.length; s++) {
    const stage = CYCLE_STAGES[s]
    for (let i = 0; i < WAVE; i++) books.setStage(handles[i], stage)
  }
  for (let i = 0; i < WAVE; i++) books.finish(handles[i], FINISHES[(firstId + i) % FINISHES.length])
}

function makeWave () {
  if (impl === 'tracker') {
    const tracker = new BuildTracker({ runners: runners.map((name) => ({ name, limit: 8 })), concurrent: 80 })
    return (firstId) => trackerWave(tracker, firstId)
  }
  if (impl === 'prom-client') {
    const books = promClientBookkeeping(promClient, new promClient.Registry(), DURATION_BUCKETS)
    return (firstId) => promClientWave(books, firstId)
  }
  throw new Error(`unknown implementation ${impl}`)
}

/** Runs waves for `ms` milliseconds; returns cycles per second. */
function measure (wave, ms, state) {
  const start = performance.now()
  let cycles = 0
  let elapsed = 0
  do {
    wave(state.nextId)
    state.nextId += WAVE
    cycles += WAVE
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return cycles / (elapsed / 1000)
}

reportFromChild(async () => {
  const wave = makeWave()
  const state = { nextId: 1 }
  measure(wave, warmupMs, state)
  const rates = []
  for (let run = 0; run < runs; run++) rates.push(measure(wave, runMs, state))
  return { impl, rates }
})

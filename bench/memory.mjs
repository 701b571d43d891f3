// Child (run with --expose-gc): heap bytes per live build at LIVE live builds.
// usage: node --expose-gc bench/memory.mjs tracker|prom-client LIVE
//
// The builds are held by the tracker (or the prom-client bookkeeping's map) only: their
// handles are dropped as soon as they are made. Ids are numbers, as GitLab job ids, so the
// id strings are the tracker's own and counted.
import * as promClient from 'prom-client'
import { BuildTracker, DURATION_BUCKETS } from 'fastify-runner-metrics'
import { FINISHES, RUNNER_COUNT, promClientBookkeeping, reportFromChild, runnerNames, startLiveBuilds, trackerTarget } from './common.mjs'

const [impl, live] = [process.argv[2], Number(process.argv[3])]
const runners = runnerNames(RUNNER_COUNT)

if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc')

function settledHeap () {
  for (let i = 0; i < 4; i++) globalThis.gc()
  return process.memoryUsage().heapUsed
}

function makeTarget () {
  if (impl === 'tracker') {
    const tracker = new BuildTracker({ runners: runners.map((name) => ({ name, limit: 8 })), concurrent: 80 })
    return { target: trackerTarget(tracker), liveCount: () => tracker.liveCount, liveBuilds: () => [...tracker.liveBuilds()] }
  }
  if (impl === 'prom-client') {
    const books = promClientBookkeeping(promClient, new promClient.Registry(), DURATION_BUCKETS)
    return { target: books, liveCount: () => books.live.size, liveBuilds: () => [...books.live.values()] }
  }
  throw new Error(`unknown implementation ${impl}`)
}

reportFromChild(async () => {
  const { target, liveCount, liveBuilds } = makeTarget()
  // Warm-up: every code path and hidden class used below exists before the first reading,
  // and every (runner, state, stage) series has been touched once.
  startLiveBuilds(target, 1200, runners, 1)
  liveBuilds().forEach((build, index) => target.finish(build, FINISHES[index % FINISHES.length]))
  const before = settledHeap()
  startLiveBuilds(target, live, runners)
  const after = settledHeap()
  if (liveCount() !== live) throw new Error(`expected ${live} live builds, have ${liveCount()}`)
  return { impl, live, before, after, bytesPerBuild: (after - before) / live }
})

// Child: time of one `registry.metrics()` (the whole text rendering, default metrics included)
// with 0 live builds, with LIVE live builds, and with 0 live after LIVE builds finished.
// usage: node bench/scrape-cost.mjs plugin|prom-client LIVE ITERATIONS
//
// The three states live side by side in one process, each in an instance of its own (registry
// and tracker, or registry and bookkeeping), and the scrapes alternate between them, so that
// drift in the machine's speed hits all three alike.
import Fastify from 'fastify'
import * as promClient from 'prom-client'
import runnerMetrics, { DURATION_BUCKETS } from 'fastify-runner-metrics'
import { FINISHES, RUNNER_COUNT, median, nextTurn, promClientBookkeeping, reportFromChild, runnerNames, startLiveBuilds, trackerTarget } from './common.mjs'

const [impl, live, iterations] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
const runners = runnerNames(RUNNER_COUNT)

async function instance () {
  if (impl === 'plugin') {
    const app = Fastify()
    await app.register(runnerMetrics, { runners: runners.map((name) => ({ name, limit: 8 })), concurrent: 80, maxScrapesInFlight: 0 })
    await app.ready()
    const tracker = app.builds
    return { registry: app.runnerRegistry, target: trackerTarget(tracker), liveBuilds: () => [...tracker.liveBuilds()], liveCount: () => tracker.liveCount }
  }
  if (impl === 'prom-client') {
    const registry = new promClient.Registry()
    promClient.collectDefaultMetrics({ register: registry })
    const books = promClientBookkeeping(promClient, registry, DURATION_BUCKETS)
    return { registry, target: books, liveBuilds: () => [...books.live.values()], liveCount: () => books.live.size }
  }
  throw new Error(`unknown implementation ${impl}`)
}

function seriesOf (body) {
  return body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length
}

reportFromChild(async () => {
  const empty = await instance()
  const withLive = await instance()
  startLiveBuilds(withLive.target, live, runners)
  const drained = await instance()
  startLiveBuilds(drained.target, live, runners)
  drained.liveBuilds().forEach((build, index) => drained.target.finish(build, FINISHES[index % FINISHES.length]))
  if (empty.liveCount() !== 0 || withLive.liveCount() !== live || drained.liveCount() !== 0) throw new Error('unexpected live build counts')

  const states = { empty, live: withLive, drained }
  const times = { empty: [], live: [], drained: [] }
  const bodies = {}
  // Warm-up: JIT the scrape path and let the runtime metrics settle.
  for (let i = 0; i < Math.min(200, iterations); i++) {
    for (const state of Object.values(states)) { await nextTurn(); await state.registry.metrics() }
  }
  for (let i = 0; i < iterations; i++) {
    for (const [name, state] of Object.entries(states)) {
      await nextTurn()
      const start = performance.now()
      bodies[name] = await state.registry.metrics()
      times[name].push(performance.now() - start)
    }
  }
  const result = (name) => ({ ms: median(times[name]), bytes: Buffer.byteLength(bodies[name]), series: seriesOf(bodies[name]) })
  return { impl, empty: result('empty'), live: result('live'), drained: result('drained') }
})

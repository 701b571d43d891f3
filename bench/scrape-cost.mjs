// Child: time of one scrape of the metrics route (app.inject of /metrics, default metrics
// included) with 0 live builds, with LIVE live builds, and with 0 live after LIVE builds finished.
// usage: node bench/scrape-cost.mjs plugin|prom-client LIVE ITERATIONS
//
// The three states live side by side in one process, each in an instance of its own (app,
// registry and tracker, or app, registry and bookkeeping), and the scrapes alternate between
// them, so that drift in the machine's speed hits all three alike. Every instance first runs the
// same few builds through every stage and final state, so that all three have the same series:
// what differs between them is the live builds alone, which is what this row is about.
import Fastify from 'fastify'
import * as promClient from 'prom-client'
import runnerMetrics, { DURATION_BUCKETS } from 'fastify-runner-metrics'
import { FINISHES, LIVE_STAGE_PATH, RUNNER_COUNT, median, nextTurn, promClientBookkeeping, reportFromChild, runnerNames, startLiveBuilds, trackerTarget } from './common.mjs'

const [impl, live, iterations] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
const runners = runnerNames(RUNNER_COUNT)

async function instance () {
  const app = Fastify()
  if (impl === 'plugin') {
    await app.register(runnerMetrics, { runners: runners.map((name) => ({ name, limit: 8 })), concurrent: 80, maxScrapesInFlight: 0 })
    await app.ready()
    const tracker = app.builds
    return { app, target: trackerTarget(tracker), liveBuilds: () => [...tracker.liveBuilds()], liveCount: () => tracker.liveCount }
  }
  if (impl === 'prom-client') {
    const registry = new promClient.Registry()
    promClient.collectDefaultMetrics({ register: registry })
    const books = promClientBookkeeping(promClient, registry, DURATION_BUCKETS)
    app.get('/metrics', async (request, reply) => reply.type(registry.contentType).send(await registry.metrics()))
    await app.ready()
    return { app, target: books, liveBuilds: () => [...books.live.values()], liveCount: () => books.live.size }
  }
  throw new Error(`unknown implementation ${impl}`)
}

/** Per runner, a build through every stage to each final state: every series there will be. */
function everySeries (target) {
  let id = 1
  for (const runner of runners) {
    for (const finish of FINISHES) {
      const build = target.start({ id: id++, runner })
      for (const stage of LIVE_STAGE_PATH) target.setStage(build, stage)
      target.finish(build, finish)
    }
  }
}

function seriesOf (body) {
  return body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length
}

reportFromChild(async () => {
  const empty = await instance()
  const withLive = await instance()
  const drained = await instance()
  for (const state of [empty, withLive, drained]) everySeries(state.target)
  startLiveBuilds(withLive.target, live, runners)
  startLiveBuilds(drained.target, live, runners)
  drained.liveBuilds().forEach((build, index) => drained.target.finish(build, FINISHES[index % FINISHES.length]))
  if (empty.liveCount() !== 0 || withLive.liveCount() !== live || drained.liveCount() !== 0) throw new Error('unexpected live build counts')

  const states = { empty, live: withLive, drained }
  const times = { empty: [], live: [], drained: [] }
  const bodies = {}
  const scrape = async (state) => {
    const response = await state.app.inject({ url: '/metrics', headers: { 'accept-encoding': 'identity' } })
    if (response.statusCode !== 200) throw new Error(`scrape answered ${response.statusCode}`)
    return response.body
  }
  // Warm-up: JIT the scrape path and let the runtime metrics settle.
  for (let i = 0; i < Math.min(200, iterations); i++) {
    for (const state of Object.values(states)) { await nextTurn(); await scrape(state) }
  }
  for (let i = 0; i < iterations; i++) {
    for (const [name, state] of Object.entries(states)) {
      await nextTurn()
      const start = performance.now()
      bodies[name] = await scrape(state)
      times[name].push(performance.now() - start)
    }
  }
  for (const state of Object.values(states)) await state.app.close()
  const result = (name) => ({ ms: median(times[name]), bytes: Buffer.byteLength(bodies[name]), series: seriesOf(bodies[name]) })
  return { impl, empty: result('empty'), live: result('live'), drained: result('drained') }
})

// Child: the longest event-loop block one scrape causes.
// usage: node bench/event-loop.mjs TARGET SCRAPES
//   TARGET: plugin-default | plugin-large | fastify-metrics | prom-client | prom-client-large
//
// A setImmediate ticker records the gaps between its turns; for each scrape the longest gap
// seen from just before the scrape until the turn after it ends is that scrape's longest
// block. Every target is scraped with app.inject('/metrics'): prom-client's registries are
// served by a plain Fastify route (`reply.send(await register.metrics())`).
import Fastify from 'fastify'
import fastifyMetricsModule from 'fastify-metrics'
import * as promClient from 'prom-client'
import runnerMetrics, { BUILTIN_STAGES, BuildTracker, DURATION_BUCKETS, FAILURE_REASONS } from 'fastify-runner-metrics'
import { median, nextTurn, percentileSorted, promClientBookkeeping, reportFromChild, runnerNames, trackerTarget } from './common.mjs'

const fastifyMetrics = fastifyMetricsModule.default ?? fastifyMetricsModule
const [targetName, scrapes] = [process.argv[2], Number(process.argv[3])]

const LARGE_RUNNERS = 100
/** Build durations (seconds) finished on every runner of the large output: every bucket gets some. */
const DURATIONS = [12, 45, 150, 420, 900, 2400, 5000, 9000, 14000, 25000, 50000]
const FINAL = ['success', 'failed', 'canceled', 'timedout']

/**
 * The large output's load, through a tracker-like target and a settable clock: on each of
 * 100 runners, finished builds of every duration, state and failure reason, then one live
 * build pending and one in each of GitLab Runner's 14 stages.
 */
function feedLarge (target, clock) {
  const runners = runnerNames(LARGE_RUNNERS)
  let id = 1
  for (const runner of runners) {
    for (let i = 0; i < 36; i++) {
      const build = target.start({ id: id++, runner })
      target.setStage(build, BUILTIN_STAGES[i % BUILTIN_STAGES.length])
      clock.now += DURATIONS[i % DURATIONS.length]
      const state = FINAL[i % FINAL.length]
      target.finish(build, state === 'failed' ? { state, failureReason: FAILURE_REASONS[(i >> 2) % FAILURE_REASONS.length] } : { state })
    }
    target.start({ id: id++, runner })
    for (const stage of BUILTIN_STAGES) target.setStage(target.start({ id: id++, runner }), stage)
  }
  return runners
}

async function fastifyTarget (register) {
  const app = Fastify()
  await register(app)
  await app.ready()
  return async () => {
    const response = await app.inject('/metrics')
    if (response.statusCode !== 200) throw new Error(`scrape answered ${response.statusCode}`)
    return response.body
  }
}

async function setup () {
  switch (targetName) {
    case 'plugin-default':
      return fastifyTarget((app) => app.register(runnerMetrics, { runners: [{ name: 'docker-1', limit: 4 }], concurrent: 4, maxScrapesInFlight: 0 }))
    case 'plugin-large': {
      const clock = { now: 1000 }
      const tracker = new BuildTracker({ runners: runnerNames(LARGE_RUNNERS).map((name) => ({ name, limit: 4 })), concurrent: 400, now: () => clock.now })
      feedLarge(trackerTarget(tracker), clock)
      return fastifyTarget((app) => app.register(runnerMetrics, { tracker, maxScrapesInFlight: 0 }))
    }
    case 'fastify-metrics':
      return fastifyTarget((app) => app.register(fastifyMetrics))
    case 'prom-client':
    case 'prom-client-large': {
      const register = new promClient.Registry()
      promClient.collectDefaultMetrics({ register })
      if (targetName === 'prom-client-large') {
        const clock = { now: 1000 }
        feedLarge(promClientBookkeeping(promClient, register, DURATION_BUCKETS, () => clock.now), clock)
      }
      // Served the plainest way by a Fastify route, so that every target pays the same inject.
      return fastifyTarget((app) => app.get('/metrics', async (request, reply) => reply.type(register.contentType).send(await register.metrics())))
    }
    default:
      throw new Error(`unknown target ${targetName}`)
  }
}

reportFromChild(async () => {
  const scrape = await setup()
  let last = performance.now()
  let longest = 0
  let ticking = true
  const tick = () => {
    const now = performance.now()
    if (now - last > longest) longest = now - last
    last = now
    if (ticking) setImmediate(tick)
  }
  setImmediate(tick)

  let body = ''
  for (let i = 0; i < Math.min(50, scrapes); i++) body = await scrape()
  const blocks = []
  const idle = []
  for (let i = 0; i < scrapes; i++) {
    // An idle stretch first: the ticker's own gap, the resolution of the measurement.
    await nextTurn()
    longest = 0
    await nextTurn(); await nextTurn()
    idle.push(longest)
    longest = 0
    body = await scrape()
    await nextTurn(); await nextTurn()
    blocks.push(longest)
  }
  ticking = false
  blocks.sort((a, b) => a - b)
  return {
    target: targetName,
    bytes: Buffer.byteLength(body),
    series: body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length,
    medianMs: median(blocks),
    p99Ms: percentileSorted(blocks, 99),
    maxMs: blocks[blocks.length - 1],
    idleMs: median(idle)
  }
})

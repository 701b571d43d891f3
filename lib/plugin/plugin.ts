import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import Negotiator from 'negotiator'
import { Registry } from 'prom-client'
import type { BuildTracker } from '../tracker/build-tracker.js'
import { registerBuildsMetric } from './collectors/builds.js'
import { registerLifecycleMetrics } from './collectors/lifecycle.js'
import { registerRuntimeMetrics } from './collectors/runtime.js'
import type { Sampler } from './collectors/scrape-time-metric.js'
import { ScrapeStats, registerScrapeMetrics } from './collectors/scrapes.js'
import { registerVersionMetric } from './collectors/version.js'
import { JOBS_LIST_VERSION, jobsListJson, jobsListText } from './jobs-list.js'
import { createScraper, sendScrape } from './metrics-route.js'
import { resolveOptions, type RunnerMetricsOptions } from './options.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The prom-client Registry of this instance's metrics. */
    runnerRegistry: Registry
    /** The build tracker whose state `runner_builds` and the lifecycle metrics report. */
    builds: BuildTracker
  }
}

const OTHER_METHODS = ['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const

/** Registers every metric; returns what starts the runtime metrics' sampler and observer. */
function registerMetrics (registry: Registry, tracker: BuildTracker, options: ReturnType<typeof resolveOptions>, stats: ScrapeStats): Sampler {
  const before = new Set(registry.getMetricsAsArray().map((metric) => metric.name))
  try {
    registerBuildsMetric(registry, tracker)
    registerLifecycleMetrics(registry, tracker)
    registerVersionMetric(registry, options.version)
    registerScrapeMetrics(registry, stats)
    return options.defaultMetrics ? registerRuntimeMetrics(registry, options) : () => () => {}
  } catch (error) {
    // All or nothing: a refused registration leaves the registry as it found it.
    for (const { name } of registry.getMetricsAsArray()) if (!before.has(name)) registry.removeSingleMetric(name)
    throw new Error(`fastify-runner-metrics: the registry already holds one of its metrics (${(error as Error).message}); give each instance its own registry, and set defaultMetrics: false on one that has prom-client's default metrics`)
  }
}

function methodNotAllowed (app: FastifyInstance, url: string): void {
  app.route({
    method: [...OTHER_METHODS],
    url,
    handler: async (request, reply) => reply.code(405).header('allow', 'GET, HEAD').type('text/plain; charset=utf-8').send(`method ${request.method} not allowed; use GET or HEAD\n`)
  })
}

const runnerMetrics: FastifyPluginAsync<RunnerMetricsOptions> = async (app, rawOptions) => {
  if (app.hasDecorator('runnerRegistry') || app.hasDecorator('builds')) {
    throw new Error('fastify-runner-metrics is already registered on this Fastify instance (or another plugin decorates "runnerRegistry" or "builds"); register it once per instance')
  }
  const options = resolveOptions(rawOptions)
  const registry = options.registry ?? new Registry()
  const tracker = options.tracker
  const stats = new ScrapeStats()
  const startRuntimeMetrics = registerMetrics(registry, tracker, options, stats)
  // Started once the whole app is ready, so that a registration refused anywhere leaves nothing running.
  let stopRuntimeMetrics = (): void => {}
  app.addHook('onReady', async () => { stopRuntimeMetrics = startRuntimeMetrics() })
  app.addHook('onClose', async () => stopRuntimeMetrics())
  app.decorate('runnerRegistry', registry)
  app.decorate('builds', tracker)

  if (options.endpoint !== false) {
    const { scrape, abandon } = createScraper(registry, stats, options, app.log)
    // Before the server waits for its requests to finish: a hung scrape must not hold the close.
    app.addHook('preClose', async () => abandon())
    app.route({
      method: ['GET', 'HEAD'],
      url: options.endpoint,
      // Load shedding must not blind the operator: @fastify/under-pressure lets a route
      // through when its pressureHandler returns nothing.
      config: { pressureHandler: () => undefined },
      handler: async (request, reply) => sendScrape(reply, await scrape(request.headers))
    })
    methodNotAllowed(app, options.endpoint)
  }

  if (options.jobsList !== false) {
    app.get(options.jobsList, async (request, reply) => {
      reply.header('x-list-version', JOBS_LIST_VERSION).header('vary', 'Accept')
      const wantsJson = new Negotiator(request).mediaType(['text/plain', 'application/json']) === 'application/json'
      return wantsJson ? jobsListJson(tracker) : reply.type('text/plain; charset=utf-8').send(jobsListText(tracker))
    })
  }
}

export default fp(runnerMetrics, { name: 'fastify-runner-metrics', fastify: '5.x' })

import type { FastifyInstance, FastifyPluginAsync, RouteShorthandOptions } from 'fastify'
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
import { AlreadyRegisteredError, RegistryConflictError } from './errors.js'
import { JOBS_LIST_VERSION, jobsList } from './jobs-list.js'
import { connectionOf, createScraper, sendScrape } from './metrics-route.js'
import { renamer } from './naming.js'
import { registerRequestMetrics } from './collectors/requests.js'
import { resolveOptions, type ResolvedOptions, type RunnerMetricsOptions } from './options.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The prom-client Registry of this instance's metrics. */
    runnerRegistry: Registry
    /** The build tracker whose state `runner_builds` and the lifecycle metrics report. */
    builds: BuildTracker
  }
}

/** Registers every metric; returns what starts the runtime metrics' sampler and observer. */
function registerMetrics (registry: Registry, tracker: BuildTracker, options: ResolvedOptions, stats: ScrapeStats): Sampler {
  const before = new Set(registry.getMetricsAsArray().map((metric) => metric.name))
  try {
    const rename = renamer(options.naming)
    registerBuildsMetric(registry, tracker, rename)
    registerLifecycleMetrics(registry, tracker, rename)
    registerRequestMetrics(registry, tracker, rename)
    registerVersionMetric(registry, rename, options.version)
    registerScrapeMetrics(registry, stats, rename)
    return options.defaultMetrics ? registerRuntimeMetrics(registry, options) : () => () => {}
  } catch (error) {
    // All or nothing: a refused registration leaves the registry as it found it.
    for (const { name } of registry.getMetricsAsArray()) if (!before.has(name)) registry.removeSingleMetric(name)
    throw new RegistryConflictError((error as Error).message)
  }
}

/** Every other method the instance routes (TRACE, QUERY, any added with addHttpMethod) answers 405 at `url`. */
function methodNotAllowed (app: FastifyInstance, url: string, routeOptions: RouteShorthandOptions = {}): void {
  app.route({
    ...routeOptions,
    method: app.supportedMethods.filter((method) => method !== 'GET' && method !== 'HEAD'),
    url,
    handler: async (request, reply) => reply.code(405).header('allow', 'GET, HEAD').type('text/plain; charset=utf-8').send(`method ${request.method} not allowed; use GET or HEAD\n`)
  })
}

const runnerMetrics: FastifyPluginAsync<RunnerMetricsOptions> = async (app, rawOptions) => {
  if (app.hasDecorator('runnerRegistry') || app.hasDecorator('builds')) {
    throw new AlreadyRegisteredError()
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
  // Fastify applies its register options (prefix, logLevel, logSerializers) to an encapsulated
  // context only, and this plugin is not one (its decorators are the app's): the routes get one.
  app.register(async (routes) => { addRoutes(routes, registry, tracker, stats, options) }, options.register)
}

/** The metrics route and the running-builds list. */
function addRoutes (app: FastifyInstance, registry: Registry, tracker: BuildTracker, stats: ScrapeStats, options: ResolvedOptions): void {
  if (options.endpoint !== false) {
    const { url, routeOptions } = options.endpoint
    // GitLab Runner's names cannot be OpenMetrics: a counter's family drops `_total` there, so
    // gitlab_runner_jobs_total would clash with the gauge gitlab_runner_jobs. GitLab Runner's
    // handler serves the text format only, and so does this naming.
    const textOnly = options.naming === 'gitlab-runner'
    const { scrape, abandon } = createScraper(registry, stats, { ...options, textOnly }, app.log)
    // Before the server waits for its requests to finish: scrapes in flight get a bounded time
    // to finish, so a hung one can hold neither the close nor a timer past it.
    app.addHook('preClose', async () => { await abandon() })
    app.route({
      ...routeOptions,
      method: ['GET', 'HEAD'],
      url,
      // Load shedding must not blind the operator: @fastify/under-pressure lets a route
      // through when its pressureHandler returns nothing.
      config: { pressureHandler: () => undefined, ...routeOptions.config },
      handler: (request, reply) => {
        const result = scrape(request.headers, connectionOf(request.raw))
        if (result instanceof Promise) return result.then((answer) => sendScrape(reply, answer))
        sendScrape(reply, result)
      }
    })
    methodNotAllowed(app, url, routeOptions)
  }

  if (options.jobsList !== false) {
    // Its route options are the metrics route's protection or its own (options.ts): the list
    // shows job URLs and runner names, so it is never more open than the metrics route.
    const { url, routeOptions } = options.jobsList
    const list = jobsList(tracker)
    app.route({
      ...routeOptions,
      method: ['GET', 'HEAD'],
      url,
      handler: async (request, reply) => {
        const format = new Negotiator(request).mediaType(['text/plain', 'application/json']) === 'application/json' ? 'json' : 'text'
        const { contentType, body, total } = await list(format)
        return reply.headers({ 'content-type': contentType, vary: 'Accept', 'x-list-version': JOBS_LIST_VERSION, 'x-builds-total': total }).send(body)
      }
    })
    methodNotAllowed(app, url, routeOptions)
  }
}

export default fp(runnerMetrics, { name: 'fastify-runner-metrics', fastify: '5.x' })

import type { RegisterOptions, RouteShorthandOptions } from 'fastify'
import type { Registry } from 'prom-client'
import { BuildTracker, type RunnerConfig } from '../tracker/build-tracker.js'
import { DEFAULT_EVENT_LOOP_RESOLUTION } from './collectors/event-loop.js'
import { describeValue, quote } from '../tracker/describe.js'
import { VERSION_LABELS, type VersionInfo } from './collectors/version.js'
import { OptionInvalidError } from './errors.js'
import { isNaming, namingProblem, type Naming } from './naming.js'

/**
 * The metrics route as an object: its path (`url`, default `/metrics`) and any route options
 * Fastify takes, such as an `onRequest` auth hook, `logLevel` or `schema: { hide: true }`.
 * The plugin sets the method and the handler.
 */
export interface EndpointOptions extends RouteShorthandOptions {
  url?: string
}

/**
 * The jobs list as an object: its path (`url`, default `/debug/jobs/list`) and route options of
 * its own, as `endpoint` takes them. Given so, it takes nothing from the metrics route.
 */
export interface JobsListOptions extends RouteShorthandOptions {
  url?: string
}

/**
 * The plugin's options. Fastify's own register options (`prefix`, `logLevel`, `logSerializers`)
 * apply to its routes: Fastify leaves them to a plugin wrapped in fastify-plugin, as this one is.
 */
export interface RunnerMetricsOptions extends RegisterOptions {
  /** The registry to fill; by default a new one owned by this instance. Never prom-client's global one. */
  registry?: Registry
  /** The path of the metrics route, its route options, or `false` for no route. Default `/metrics`. */
  endpoint?: string | false | EndpointOptions
  /** Node.js runtime and process metrics. Default `true`. */
  defaultMetrics?: boolean
  /** Labels of `runner_version_info`; unset ones default to this package's and the platform's. */
  version?: VersionInfo
  /** Configured runners: their series exist at zero from the first scrape. */
  runners?: RunnerConfig[]
  /** The global `concurrent` setting, exported as `runner_concurrent`. */
  concurrent?: number
  /** Stages allowed beside GitLab Runner's own. */
  stages?: string[]
  /** A tracker fed elsewhere (the standalone server's); then `runners`, `concurrent` and `stages` must not be set. */
  tracker?: BuildTracker
  /**
   * The running-builds list: `false` (default) for none; `true` (at `/debug/jobs/list`) or a path,
   * behind the metrics route's protection (its request hooks, `config` and `constraints`); or
   * route options of its own (`{ url, onRequest, ... }`), which take nothing from the metrics route.
   */
  jobsList?: string | boolean | JobsListOptions
  /** Milliseconds a scrape may take before it is answered 503. Default 5000, below Prometheus' 10 s. */
  scrapeTimeout?: number
  /**
   * Scrapes served at once; more are answered 503 at once. Default 0, no limit (as Prometheus'
   * Go handler): overlapping scrapes share one collection, so a waiting one costs little.
   */
  maxScrapesInFlight?: number
  /** Metric names: `'runner'` (default, `runner_*`) or `'gitlab-runner'` (GitLab Runner's `gitlab_runner_*`). */
  naming?: Naming
  /** Milliseconds between event-loop delay samples (each wakes an idle process). Default 100; prom-client's is 10. */
  eventLoopResolution?: number
}

/** A route of the plugin's: where, and the user's route options beside the plugin's method and handler. */
export interface EndpointRoute {
  url: string
  routeOptions: RouteShorthandOptions
}

export interface ResolvedOptions {
  registry: Registry | undefined
  endpoint: EndpointRoute | false
  defaultMetrics: boolean
  version: VersionInfo
  tracker: BuildTracker
  jobsList: EndpointRoute | false
  scrapeTimeout: number
  maxScrapesInFlight: number
  naming: Naming
  eventLoopResolution: number
  /** `prefix`, `logLevel` and `logSerializers` as given to `register`: they apply to the plugin's routes. */
  register: RegisterOptions
}

const REGISTER_OPTIONS = ['prefix', 'logLevel', 'logSerializers'] as const
const KNOWN_OPTIONS = new Set(['registry', 'endpoint', 'defaultMetrics', 'version', 'runners', 'concurrent', 'stages', 'tracker', 'jobsList', 'scrapeTimeout', 'maxScrapesInFlight', 'naming', 'eventLoopResolution', ...REGISTER_OPTIONS])
export const DEFAULT_JOBS_LIST_PATH = '/debug/jobs/list'

function optionError (option: string, problem: string): TypeError {
  return new OptionInvalidError(`option "${option}" ${problem}`)
}

function naming (value: unknown): Naming {
  if (value === undefined) return 'runner'
  if (!isNaming(value)) throw optionError('naming', namingProblem(value))
  return value
}

function isRegistry (value: unknown): value is Registry {
  const candidate = value as Partial<Registry> | null
  return typeof candidate?.registerMetric === 'function' && typeof candidate.metrics === 'function' && typeof candidate.getMetricsAsArray === 'function'
}

/** `alternatives` names what else the option takes, for the message. */
function path (option: string, value: unknown, alternatives = ' or false'): string {
  if (typeof value !== 'string' || !value.startsWith('/')) throw optionError(option, `must be a path starting with "/"${alternatives}, got ${describeValue(value)}`)
  return value
}

/**
 * A string is the route's path; an object adds Fastify route options (all but method and
 * handler, which are the plugin's). `forms` names the other values the option takes, for the message.
 */
function route (option: string, value: unknown, defaultUrl: string, forms: string): EndpointRoute {
  if (typeof value === 'string') return { url: path(option, value, `${forms}, or route options`), routeOptions: {} }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(option, `must be a path starting with "/"${forms}, or route options ({ url, onRequest, logLevel, schema, ... }), got ${describeValue(value)}`)
  }
  const { url = defaultUrl, ...routeOptions } = value as EndpointOptions & Record<string, unknown>
  for (const key of ['method', 'handler']) {
    if (key in routeOptions) throw optionError(option, `sets "${key}", which the plugin sets itself; allowed: url and Fastify route options`)
  }
  return { url: path(`${option}.url`, url, ''), routeOptions }
}

/**
 * What of the metrics route's options protects it, and so the jobs list beside it: the hooks
 * that run before the handler and can answer instead of it, the route `config` that plugins such
 * as @fastify/rate-limit and @fastify/under-pressure read, and `constraints` (a metrics route
 * served on an internal host only). Hooks after the handler (onSend, onResponse...), logLevel
 * and schema are about the metrics text and its logs, not access, and are left to the metrics route.
 */
const PROTECTION = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'config', 'constraints'] as const

function jobsListRoute (value: unknown, endpoint: EndpointRoute | false): EndpointRoute | false {
  if (value === false) return false
  const own = route('jobsList', value === true ? DEFAULT_JOBS_LIST_PATH : value, DEFAULT_JOBS_LIST_PATH, ', true, false')
  if (typeof value === 'object' || endpoint === false) return own
  const inherited = PROTECTION.filter((key) => endpoint.routeOptions[key] !== undefined).map((key) => [key, endpoint.routeOptions[key]])
  return { url: own.url, routeOptions: Object.fromEntries(inherited) as RouteShorthandOptions }
}

/** The longest delay a Node.js timer takes: a longer one fires after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1

function wholeNumber (option: string, value: unknown, fallback: number, min: number, max = Infinity): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw optionError(option, `must be an integer ${max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`}, got ${describeValue(value)}`)
  }
  return value as number
}

function versionInfo (value: unknown): VersionInfo {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw optionError('version', 'must be an object of label values')
  for (const [key, label] of Object.entries(value)) {
    if (!(VERSION_LABELS as readonly string[]).includes(key)) throw optionError('version', `has unknown label "${key}"; allowed: ${VERSION_LABELS.join(', ')}`)
    if (typeof label !== 'string') throw optionError('version', `label "${key}" must be a string, got ${describeValue(label)}`)
  }
  return value as VersionInfo
}

function tracker (options: RunnerMetricsOptions): BuildTracker {
  const { tracker, runners, concurrent, stages } = options
  if (tracker === undefined) {
    try {
      return new BuildTracker({ runners, concurrent, stages })
    } catch (error) {
      throw new OptionInvalidError((error as Error).message)
    }
  }
  if (!(tracker instanceof BuildTracker)) throw optionError('tracker', 'must be a BuildTracker')
  if (runners !== undefined || concurrent !== undefined || stages !== undefined) {
    throw optionError('tracker', 'comes with its own runners, concurrent and stages: set those on the tracker, not beside it')
  }
  return tracker
}

/** Checks every option and fills in defaults; a wrong one throws a TypeError (FST_RUNNER_METRICS_OPTION_INVALID) naming it. */
export function resolveOptions (options: RunnerMetricsOptions = {}): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw optionError(key, `is not an option; options: ${[...KNOWN_OPTIONS].join(', ')}`)
  }
  const { registry, endpoint = '/metrics', defaultMetrics = true, jobsList = false } = options
  if (registry !== undefined && !isRegistry(registry)) throw optionError('registry', 'must be a prom-client Registry')
  if (typeof defaultMetrics !== 'boolean') throw optionError('defaultMetrics', `must be a boolean, got ${describeValue(defaultMetrics)}`)
  const metricsRoute = endpoint === false ? false : route('endpoint', endpoint, '/metrics', ', false')
  const jobsListAt = jobsListRoute(jobsList, metricsRoute)
  // Fastify would refuse the second route with its own message, naming neither option.
  if (metricsRoute !== false && jobsListAt !== false && metricsRoute.url === jobsListAt.url) {
    throw optionError('jobsList', `is the path of "endpoint" (${quote(jobsListAt.url)}); give them different paths`)
  }
  return {
    registry,
    endpoint: metricsRoute,
    defaultMetrics,
    version: versionInfo(options.version),
    tracker: tracker(options),
    jobsList: jobsListAt,
    scrapeTimeout: wholeNumber('scrapeTimeout', options.scrapeTimeout, 5000, 1, MAX_TIMER_MS),
    maxScrapesInFlight: wholeNumber('maxScrapesInFlight', options.maxScrapesInFlight, 0, 0),
    eventLoopResolution: wholeNumber('eventLoopResolution', options.eventLoopResolution, DEFAULT_EVENT_LOOP_RESOLUTION, 1, 60_000),
    naming: naming(options.naming),
    register: Object.fromEntries(REGISTER_OPTIONS.filter((key) => options[key] !== undefined).map((key) => [key, options[key]]))
  }
}

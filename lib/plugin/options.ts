import type { Registry } from 'prom-client'
import { BuildTracker, type RunnerConfig } from '../tracker/build-tracker.js'
import { DEFAULT_EVENT_LOOP_RESOLUTION } from './collectors/event-loop.js'
import { VERSION_LABELS, type VersionInfo } from './collectors/version.js'

export interface RunnerMetricsOptions {
  /** The registry to fill; by default a new one owned by this instance. Never prom-client's global one. */
  registry?: Registry
  /** The path of the metrics route, or `false` for no route. Default `/metrics`. */
  endpoint?: string | false
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
  /** The path of the running-builds list, or `false` (default) for none. `true` means `/debug/jobs/list`. */
  jobsList?: string | boolean
  /** Milliseconds a scrape may take before it is answered 503. Default 5000, below Prometheus' 10 s. */
  scrapeTimeout?: number
  /**
   * Scrapes served at once; more are answered 503 at once. Default 0, no limit (as Prometheus'
   * Go handler): overlapping scrapes share one collection, so a waiting one costs little.
   */
  maxScrapesInFlight?: number
  /** Milliseconds between event-loop delay samples (each wakes an idle process). Default 100; prom-client's is 10. */
  eventLoopResolution?: number
}

export interface ResolvedOptions {
  registry: Registry | undefined
  endpoint: string | false
  defaultMetrics: boolean
  version: VersionInfo
  tracker: BuildTracker
  jobsList: string | false
  scrapeTimeout: number
  maxScrapesInFlight: number
  eventLoopResolution: number
}

const KNOWN_OPTIONS = new Set(['registry', 'endpoint', 'defaultMetrics', 'version', 'runners', 'concurrent', 'stages', 'tracker', 'jobsList', 'scrapeTimeout', 'maxScrapesInFlight', 'eventLoopResolution'])
export const DEFAULT_JOBS_LIST_PATH = '/debug/jobs/list'

class OptionError extends TypeError {
  constructor (option: string, problem: string) {
    super(`fastify-runner-metrics: option "${option}" ${problem}`)
  }
}

function isRegistry (value: unknown): value is Registry {
  const candidate = value as Partial<Registry> | null
  return typeof candidate?.registerMetric === 'function' && typeof candidate.metrics === 'function' && typeof candidate.getMetricsAsArray === 'function'
}

function path (option: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) throw new OptionError(option, `must be a path starting with "/" or false, got ${JSON.stringify(value)}`)
  return value
}

function wholeNumber (option: string, value: unknown, fallback: number, min: number, max?: number): number {
  if (value === undefined) return fallback
  const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > (max ?? Infinity)) throw new OptionError(option, `must be an integer ${range}, got ${JSON.stringify(value)}`)
  return value as number
}

function versionInfo (value: unknown): VersionInfo {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new OptionError('version', 'must be an object of label values')
  for (const [key, label] of Object.entries(value)) {
    if (!(VERSION_LABELS as readonly string[]).includes(key)) throw new OptionError('version', `has unknown label "${key}"; allowed: ${VERSION_LABELS.join(', ')}`)
    if (typeof label !== 'string') throw new OptionError('version', `label "${key}" must be a string, got ${JSON.stringify(label)}`)
  }
  return value as VersionInfo
}

function tracker (options: RunnerMetricsOptions): BuildTracker {
  const { tracker, runners, concurrent, stages } = options
  if (tracker === undefined) {
    try {
      return new BuildTracker({ runners, concurrent, stages })
    } catch (error) {
      throw new TypeError(`fastify-runner-metrics: ${(error as Error).message}`)
    }
  }
  if (!(tracker instanceof BuildTracker)) throw new OptionError('tracker', 'must be a BuildTracker')
  if (runners !== undefined || concurrent !== undefined || stages !== undefined) {
    throw new OptionError('tracker', 'comes with its own runners, concurrent and stages: set those on the tracker, not beside it')
  }
  return tracker
}

/** Checks every option and fills in defaults; a wrong one throws a TypeError naming it. */
export function resolveOptions (options: RunnerMetricsOptions = {}): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new OptionError(key, `is not an option; options: ${[...KNOWN_OPTIONS].join(', ')}`)
  }
  const { registry, endpoint = '/metrics', defaultMetrics = true, jobsList = false } = options
  if (registry !== undefined && !isRegistry(registry)) throw new OptionError('registry', 'must be a prom-client Registry')
  if (typeof defaultMetrics !== 'boolean') throw new OptionError('defaultMetrics', `must be a boolean, got ${JSON.stringify(defaultMetrics)}`)
  return {
    registry,
    endpoint: endpoint === false ? false : path('endpoint', endpoint),
    defaultMetrics,
    version: versionInfo(options.version),
    tracker: tracker(options),
    jobsList: jobsList === false ? false : jobsList === true ? DEFAULT_JOBS_LIST_PATH : path('jobsList', jobsList),
    // Node's timers wait at most 2^31 - 1 ms; a longer one fires at once, which would time out every scrape.
    scrapeTimeout: wholeNumber('scrapeTimeout', options.scrapeTimeout, 5000, 1, 2 ** 31 - 1),
    maxScrapesInFlight: wholeNumber('maxScrapesInFlight', options.maxScrapesInFlight, 0, 0),
    eventLoopResolution: wholeNumber('eventLoopResolution', options.eventLoopResolution, DEFAULT_EVENT_LOOP_RESOLUTION, 1, 60_000)
  }
}

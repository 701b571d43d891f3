import {
  API_ENDPOINTS,
  API_REQUEST_BUCKETS,
  DURATION_BUCKETS,
  FAILURE_REASONS,
  FINAL_STATES,
  IGNORED_EVENTS,
  LIVE_STATES,
  NO_STAGE,
  QUEUE_BUCKETS,
  REFUSED_SERIES,
  STAGE_BUCKETS,
  describeAllowed,
  resolveStages,
  type ApiEndpoint,
  type FailureReason,
  type FinalState,
  type IgnoredEvent,
  type LiveState,
  type RefusedSeries
} from './vocabulary.js'
import { Histograms } from './buckets.js'
import { LINE_BYTES, OutputBudget, histogramLines, labelValueBytes } from './output-budget.js'
import { describeName, describeValue } from './describe.js'
import {
  BuildRunningError,
  FailureReasonWithoutFailedError,
  InvalidBuildIdError,
  InvalidConfigError,
  InvalidEndpointError,
  InvalidFailureReasonError,
  InvalidRunnerError,
  InvalidStageError,
  InvalidStateError,
  InvalidValueError,
  OutputBudgetFullError,
  TooManyRunnersError
} from './errors.js'

export interface RunnerConfig {
  /** The runner's name, the `runner` label of its series. */
  name: string
  /** The runner's `limit` (maximum concurrent builds); exported as `runner_limit`. */
  limit?: number
  /** The most job requests it has in flight at once (GitLab Runner's `request_concurrency`); default 1. */
  requestConcurrency?: number
}

export interface TrackerConfig {
  /** Configured runners: each has its series at zero from the first scrape. */
  runners?: readonly RunnerConfig[]
  /** The global `concurrent` setting; exported as `runner_concurrent`. */
  concurrent?: number
}

export interface BuildTrackerOptions extends TrackerConfig {
  /** Stages allowed beside GitLab Runner's own. */
  stages?: readonly string[]
  /** A monotonic clock in seconds; injectable so tests can place durations exactly. */
  now?: () => number
  /** The most distinct runner names the tracker accepts: it bounds label cardinality. */
  maxRunners?: number
  /**
   * The most bytes of exposition text the tracker's series may write (default 16 MiB), charged
   * as each series is created: a runner for its series from the start, stage and API series as
   * they appear. What does not fit is refused and counted; see docs/metrics.md.
   */
  maxOutputBytes?: number
}

export interface StartOptions {
  id: string | number
  runner: string
  /** Seconds the job waited in GitLab's queue before this runner took it. */
  queueSeconds?: number
  /** The job's web URL: shown in the jobs list, never in the metrics. */
  url?: string
}

export interface FinishOptions {
  state: FinalState
  /** Only with `state: 'failed'`; defaults to `unknown_failure` there. */
  failureReason?: FailureReason
}

export interface ApiRequestOptions {
  runner: string
  endpoint: ApiEndpoint
  /** The HTTP status code of the answer, 100 to 599. */
  status: number
  seconds: number
}

const DEFAULT_MAX_RUNNERS = 1000
const DEFAULT_MAX_OUTPUT_BYTES = 16 * 2 ** 20
/** GitLab Runner's default `request_concurrency`. */
const DEFAULT_REQUEST_CONCURRENCY = 1
const RUNNING = LIVE_STATES.indexOf('running')
const FAILED = FINAL_STATES.indexOf('failed')
const UNKNOWN_FAILURE = FAILURE_REASONS.indexOf('unknown_failure')
/** `runner_api_requests_total` keys: endpoint * STATUS_KEYS + status, one number per series. */
const STATUS_KEYS = 1000
const [REFUSED_RUNNER, REFUSED_STAGE_DURATION, REFUSED_API_REQUESTS, REFUSED_API_REQUEST_DURATION] = REFUSED_SERIES.map((_, index) => index) as [number, number, number, number]
/**
 * The lines a runner writes from its first appearance, or may write later with no charge of
 * their own: started, finished by state, failures by reason, the duration and queue histograms,
 * its job requests in flight and refused, its limit (once configured), and the pending slot of
 * `runner_builds`. Its running slots (one per stage) are added per tracker: a build entering a
 * stage must find its slot, or `runner_builds` would no longer add up to the live builds.
 */
const RUNNER_LINES = 1 + FINAL_STATES.length + FAILURE_REASONS.length + histogramLines(DURATION_BUCKETS) + histogramLines(QUEUE_BUCKETS) + 2 + 1 + 1

function indexOf (values: readonly string[], value: unknown): number {
  return typeof value === 'string' ? values.indexOf(value) : -1
}

function monotonicSeconds (): number {
  return performance.now() / 1000
}

/**
 * Seconds from `from` to `to` as a histogram observes them: never negative nor NaN, so an
 * injected clock that steps back (a wall clock) or answers NaN cannot make a sum fall or turn NaN.
 */
function elapsed (from: number, to: number): number {
  const seconds = to - from
  return seconds > 0 ? seconds : 0
}

/**
 * What the tracker holds for one runner: plain numbers per series, read at scrape time.
 * A build event touches a few of these fields and nothing else.
 */
export class RunnerStats {
  readonly name: string
  /** @internal */
  readonly tracker: BuildTracker
  /** @internal The bytes each line of this runner's series is charged: the tracker's line and this name. */
  readonly lineBytes: number
  limit: number | undefined = undefined
  requestConcurrency = DEFAULT_REQUEST_CONCURRENCY
  started = 0
  /** Live builds by slot: `state * stageSlots + stageSlot`, stage slot 0 being "none". */
  readonly live: Float64Array
  /** Slots that have ever held a build: their series stay, at zero, once they appear. */
  readonly seen: Uint8Array
  readonly finished: Float64Array = new Float64Array(FINAL_STATES.length)
  readonly failures: Float64Array = new Float64Array(FAILURE_REASONS.length)
  readonly duration = new Histograms(DURATION_BUCKETS)
  readonly queue = new Histograms(QUEUE_BUCKETS)
  /** Time spent per stage, one series per stage in the tracker's stage order, each made as it is first observed. */
  readonly stages: Histograms
  /** Requests to GitLab's API by `endpoint * 1000 + status`: only the pairs that happened (and fit the budget). */
  readonly apiRequests = new Map<number, number>()
  /** Their durations, one series per endpoint in API_ENDPOINTS' order, each made with its first request. */
  readonly apiDurations = new Histograms(API_REQUEST_BUCKETS, API_ENDPOINTS.length, true)
  jobRequests = 0
  jobRequestsRefused = 0

  /** @internal Runners are made by the tracker, which charges their series first. */
  constructor (tracker: BuildTracker, name: string, lineBytes: number) {
    this.tracker = tracker
    this.name = name
    this.lineBytes = lineBytes
    const slots = LIVE_STATES.length * tracker.stageSlots
    this.live = new Float64Array(slots)
    this.seen = new Uint8Array(slots)
    this.stages = new Histograms(STAGE_BUCKETS, tracker.stages.length, true)
    // The entry slot (pending, no stage) is every runner's first series.
    this.seen[0] = 1
  }

  enter (slot: number): void {
    this.live[slot]! += 1
    this.seen[slot] = 1
  }

  leave (slot: number): void {
    this.live[slot]! -= 1
  }

  /** Observes the time a build spent in the stage of `slot`, if that slot has a stage. */
  leaveStage (slot: number, seconds: number): void {
    const series = slot % this.tracker.stageSlots - 1
    if (series === -1) return
    const stages = this.stages
    if (stages.exists[series] !== 0 || this.make(stages, series, REFUSED_STAGE_DURATION)) stages.observe(series, seconds)
  }

  /**
   * @internal
   * Makes series `series` of lazily made `histograms` if it fits the output budget, charging it;
   * false, counted under `refused`, if not: the observation that asked for it is then dropped.
   * Only making a series is charged: one that exists costs its caller one check.
   */
  make (histograms: Histograms, series: number, refused: number): boolean {
    if (!this.tracker.charge(this, histogramLines(histograms.bounds), refused)) return false
    histograms.create(series)
    return true
  }
}

/** The handle of one build, returned by `BuildTracker.start`. */
export class Build {
  readonly id: string
  readonly #runner: RunnerStats
  /**
   * Whole milliseconds from the tracker's epoch to the start: a small integer is stored
   * unboxed, where a time in seconds would take a 12-byte heap number per live build.
   */
  readonly #startMs: number
  /**
   * The live slot (`state * stageSlots + stageSlot`), or `-1 - finalState` once finished:
   * one field for both keeps the per-build state small (the tracker holds every live build).
   */
  #slot = 0
  /**
   * Whole milliseconds from start to when the current stage began; once finished, to the
   * finish. A small integer, unlike a time, is stored unboxed: 12 bytes less per live build.
   */
  #sinceMs = 0

  /** @internal Builds are made by `BuildTracker.start`. */
  constructor (id: string, runner: RunnerStats, now: number) {
    this.id = id
    this.#runner = runner
    this.#startMs = runner.tracker.msSinceEpoch(now)
  }

  /** When the build started, in the tracker's clock, to the millisecond. */
  get startedAt (): number {
    return this.#runner.tracker.epoch + this.#startMs / 1000
  }

  /** The job's web URL, when `start` was given one, while the build is live. */
  get url (): string | undefined {
    return this.#runner.tracker.urlOf(this)
  }

  // Static, not instance, private methods: an instance one gives every build a brand field.
  /** The time the current stage began (or the build finished), to the millisecond. */
  static #since (build: Build): number {
    return build.#runner.tracker.epoch + (build.#startMs + build.#sinceMs) / 1000
  }

  static #mark (build: Build, now: number): void {
    build.#sinceMs = build.#runner.tracker.msSinceEpoch(now) - build.#startMs
  }

  get runner (): string {
    return this.#runner.name
  }

  get finished (): boolean {
    return this.#slot < 0
  }

  get state (): LiveState | FinalState {
    return this.finished ? FINAL_STATES[-1 - this.#slot]! : LIVE_STATES[Math.floor(this.#slot / this.#runner.tracker.stageSlots)]!
  }

  get stage (): string {
    const tracker = this.#runner.tracker
    return this.finished ? NO_STAGE : tracker.stageName(this.#slot % tracker.stageSlots)
  }

  /** Seconds since start, or from start to finish once finished. */
  get duration (): number {
    return (this.finished ? Build.#since(this) : this.#runner.tracker.now()) - this.startedAt
  }

  /**
   * Seconds in the current stage so far (pending time while no stage is entered); 0 once
   * finished. Time in earlier stages is in the runner's stage histogram, not kept per build.
   */
  get stageDuration (): number {
    return this.finished ? 0 : this.#runner.tracker.now() - Build.#since(this)
  }

  /**
   * Moves the build into `stage`; the first stage change makes a pending build running, and
   * leaving a stage observes the time spent in it. Entering the stage the build is in changes
   * nothing. Throws a TypeError for a stage that is not allowed; after finish it is an ignored,
   * counted no-op.
   */
  setStage (stage: string): void {
    const runner = this.#runner
    const tracker = runner.tracker
    const stageSlot = tracker.stageSlot(stage)
    if (this.finished) {
      tracker.ignore('set_stage_after_finish')
      return
    }
    const from = this.#slot
    const to = RUNNING * tracker.stageSlots + stageSlot
    if (to === from) return
    const now = tracker.now()
    runner.leaveStage(from, elapsed(Build.#since(this), now))
    Build.#mark(this, now)
    runner.leave(from)
    runner.enter(to)
    this.#slot = to
  }

  /**
   * Ends the build in a final state. Throws a TypeError for a state or reason that is not
   * allowed; finishing a finished build is an ignored, counted no-op.
   */
  finish (options: FinishOptions): void {
    const { state, failureReason } = options ?? {}
    const final = indexOf(FINAL_STATES, state)
    if (final === -1) throw new InvalidStateError(describeName(this.id), describeValue(state), describeAllowed(FINAL_STATES))
    let reason = UNKNOWN_FAILURE
    if (failureReason !== undefined) {
      reason = indexOf(FAILURE_REASONS, failureReason)
      if (reason === -1) throw new InvalidFailureReasonError(describeName(this.id), describeValue(failureReason), describeAllowed(FAILURE_REASONS))
      if (final !== FAILED) throw new FailureReasonWithoutFailedError(describeName(this.id), describeValue(state))
    }
    const runner = this.#runner
    const tracker = runner.tracker
    if (this.finished) {
      tracker.ignore('finish_after_finish')
      return
    }
    const now = tracker.now()
    runner.leaveStage(this.#slot, elapsed(Build.#since(this), now))
    runner.leave(this.#slot)
    runner.finished[final]! += 1
    if (final === FAILED) runner.failures[reason]! += 1
    runner.duration.observe(0, elapsed(this.startedAt, now))
    this.#slot = -1 - final
    Build.#mark(this, now)
    tracker.release(this)
  }
}

/** One job request in flight, from `BuildTracker.requestJob`; `done()` ends it. */
export class JobRequest {
  readonly #runner: RunnerStats
  #done = false

  /** @internal Made by `BuildTracker.requestJob`. */
  constructor (runner: RunnerStats) {
    this.#runner = runner
  }

  /** Ends the request, whatever its answer; a second call is an ignored, counted no-op. */
  done (): void {
    if (this.#done) {
      this.#runner.tracker.ignore('job_request_done_twice')
      return
    }
    this.#done = true
    this.#runner.jobRequests -= 1
  }
}

/**
 * Builds' state and per-series counts. It knows nothing of Prometheus: collectors read
 * its numbers at scrape time, so a build event costs a few field updates and no label hashing.
 */
export class BuildTracker {
  readonly stages: readonly string[]
  /** Stage slots per state: the stages plus slot 0, "none". */
  readonly stageSlots: number
  readonly now: () => number
  readonly maxRunners: number
  concurrent: number | undefined = undefined
  readonly #budget: OutputBudget
  /** Bytes each line is charged beside its runner name: the longest line's, with this tracker's longest stage. */
  readonly #lineBytes: number
  /** The lines a runner is charged when it first appears: RUNNER_LINES and a running slot per stage. */
  readonly #runnerLines: number
  readonly #refused = new Float64Array(REFUSED_SERIES.length)
  readonly #stageSlotByName = new Map<string, number>()
  readonly #runners = new Map<string, RunnerStats>()
  readonly #live = new Map<string, Build>()
  /** Job URLs of the live builds that have one: most have none, and a field would cost every build. */
  readonly #urls = new Map<Build, string>()
  /** The time builds count their start from (see `Build`). */
  readonly epoch: number
  readonly #ignored = new Float64Array(IGNORED_EVENTS.length)

  constructor (options: BuildTrackerOptions = {}) {
    if (!isObject(options)) throw new InvalidConfigError(`BuildTracker options must be an object, got ${describeValue(options)}`)
    try {
      this.stages = resolveStages(options.stages)
    } catch (error) {
      throw new InvalidConfigError((error as Error).message)
    }
    this.stageSlots = this.stages.length + 1
    this.stages.forEach((stage, index) => this.#stageSlotByName.set(stage, index + 1))
    this.now = options.now ?? monotonicSeconds
    if (typeof this.now !== 'function') throw new InvalidConfigError(`now must be a function returning seconds, got ${describeValue(this.now)}`)
    this.epoch = this.now()
    this.maxRunners = options.maxRunners ?? DEFAULT_MAX_RUNNERS
    if (!Number.isInteger(this.maxRunners) || this.maxRunners < 1) {
      throw new InvalidConfigError(`maxRunners must be a positive integer, got ${describeValue(this.maxRunners)}`)
    }
    const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES
    if (!Number.isSafeInteger(maxOutputBytes) || maxOutputBytes < 1) {
      throw new InvalidConfigError(`maxOutputBytes must be a positive safe integer (bytes), got ${describeValue(maxOutputBytes)}`)
    }
    this.#budget = new OutputBudget(maxOutputBytes)
    this.#lineBytes = LINE_BYTES + Math.max(...this.stages.map((stage) => stage.length))
    this.#runnerLines = RUNNER_LINES + this.stages.length
    this.configure(options)
  }

  /**
   * Applies the runner configuration: limits, request concurrency, `concurrent`, and idle series
   * for every runner. A runner that leaves the configuration keeps its counters (they never go
   * back) but loses its limit, and its request concurrency goes back to the default.
   */
  configure (config: TrackerConfig): void {
    const { runners: configured, concurrent } = this.#validate(config)
    for (const stats of this.#runners.values()) {
      stats.limit = undefined
      stats.requestConcurrency = DEFAULT_REQUEST_CONCURRENCY
    }
    for (const { name, limit, requestConcurrency = DEFAULT_REQUEST_CONCURRENCY } of configured.values()) {
      const stats = this.#runnerStats(name)
      stats.limit = limit
      stats.requestConcurrency = requestConcurrency
    }
    // The value checked, not config.concurrent read again: a getter could answer differently.
    this.concurrent = concurrent
  }

  /** Throws what `configure(config)` would throw, and changes nothing: a reload checks before it applies. */
  checkConfig (config: TrackerConfig): void {
    this.#validate(config)
  }

  /** The runners by name and `concurrent`, each read once and checked, and the runner cap. */
  #validate (config: TrackerConfig): { runners: Map<string, RunnerConfig>, concurrent: number | undefined } {
    if (!isObject(config)) throw new InvalidConfigError(`the tracker's config must be an object { runners?, concurrent? }, got ${describeValue(config)}`)
    const { runners = [], concurrent } = config
    if (concurrent !== undefined && !isCount(concurrent)) {
      throw new InvalidConfigError(`concurrent must be a non-negative integer, got ${describeValue(concurrent)}`)
    }
    if (!Array.isArray(runners)) throw new InvalidConfigError('runners must be an array of { name, limit?, requestConcurrency? }')
    const configured = new Map<string, RunnerConfig>()
    let added = 0
    let charged = 0
    for (const runner of runners as unknown[]) {
      const { name, limit, requestConcurrency } = (runner ?? {}) as Partial<RunnerConfig>
      if (!isName(name)) throw new InvalidConfigError(`runners: every runner needs a non-empty string name, got ${describeValue(name)}`)
      const problem = runnerNameProblem(name)
      if (problem !== undefined) throw new InvalidConfigError(`runners: the name of every runner must be ${problem}, got ${describeValue(name)}`)
      if (limit !== undefined && !isCount(limit)) {
        throw new InvalidConfigError(`runners: limit of runner ${describeValue(name)} must be a non-negative integer, got ${describeValue(limit)}`)
      }
      if (requestConcurrency !== undefined && !(isCount(requestConcurrency) && requestConcurrency >= 1)) {
        throw new InvalidConfigError(`runners: requestConcurrency of runner ${describeValue(name)} must be an integer of at least 1, got ${describeValue(requestConcurrency)}`)
      }
      if (configured.has(name)) throw new InvalidConfigError(`runners: runner ${describeValue(name)} is listed twice`)
      configured.set(name, { name, limit, requestConcurrency })
      if (this.#runners.has(name)) continue
      if (this.#runners.size + ++added > this.maxRunners) throw this.#tooMany(name)
      const cost = this.#runnerLines * this.#lineBytesOf(name)
      if (charged + cost > this.#budget.left) throw this.#budgetFull(name, cost, this.#budget.left - charged)
      charged += cost
    }
    return { runners: configured, concurrent }
  }

  /**
   * Starts tracking a build as pending with no stage, and observes its time in GitLab's queue.
   * Throws when the id is live already or an argument is not allowed.
   */
  start (options: StartOptions): Build {
    const { id, runner, queueSeconds, url } = options ?? {}
    const key = buildKey(id)
    if (key === undefined) throw new InvalidBuildIdError(describeValue(id))
    const where = `build ${describeName(key)}`
    checkRunner(where, runner)
    if (queueSeconds !== undefined && !isSeconds(queueSeconds)) {
      throw new InvalidValueError(where, 'queueSeconds', 'a non-negative number of seconds', describeValue(queueSeconds))
    }
    if (url !== undefined && typeof url !== 'string') throw new InvalidValueError(where, 'url', 'a string', describeValue(url))
    const running = this.#live.get(key)
    if (running !== undefined) throw new BuildRunningError(describeName(key), describeValue(running.runner))
    const stats = this.#runnerStats(runner)
    const build = new Build(key, stats, this.now())
    if (url !== undefined) this.#urls.set(build, url)
    this.#live.set(key, build)
    stats.started += 1
    stats.enter(0)
    if (queueSeconds !== undefined) stats.queue.observe(0, queueSeconds)
    return build
  }

  /**
   * Counts one request of the manager to GitLab's API. Throws a TypeError for an endpoint,
   * status or duration that is not allowed: the labels stay bounded.
   */
  apiRequest (options: ApiRequestOptions): void {
    const { runner, endpoint, status, seconds } = options ?? {}
    checkRunner('apiRequest', runner)
    const endpointIndex = indexOf(API_ENDPOINTS, endpoint)
    if (endpointIndex === -1) throw new InvalidEndpointError(describeValue(endpoint), describeAllowed(API_ENDPOINTS))
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new InvalidValueError('apiRequest', 'status', 'an HTTP status code, an integer from 100 to 599', describeValue(status))
    }
    if (!isSeconds(seconds)) throw new InvalidValueError('apiRequest', 'seconds', 'a non-negative number of seconds', describeValue(seconds))
    const stats = this.#runnerStats(runner)
    const key = endpointIndex * STATUS_KEYS + status
    const count = stats.apiRequests.get(key)
    if (count !== undefined) stats.apiRequests.set(key, count + 1)
    else if (this.charge(stats, 1, REFUSED_API_REQUESTS)) stats.apiRequests.set(key, 1)
    const durations = stats.apiDurations
    if (durations.exists[endpointIndex] !== 0 || stats.make(durations, endpointIndex, REFUSED_API_REQUEST_DURATION)) durations.observe(endpointIndex, seconds)
  }

  /**
   * Asks to start one request for a new job on `runner`: a handle to call `done()` on when the
   * request ends, or `undefined` (counted) when the runner has `requestConcurrency` in flight.
   */
  requestJob (runner: string): JobRequest | undefined {
    checkRunner('requestJob', runner)
    const stats = this.#runnerStats(runner)
    if (stats.jobRequests >= stats.requestConcurrency) {
      stats.jobRequestsRefused += 1
      return undefined
    }
    stats.jobRequests += 1
    return new JobRequest(stats)
  }

  /** The live build with this id, if any. */
  get (id: string | number): Build | undefined {
    // As start keys them: String(id) found a build 'undefined' for get(undefined), and threw for an object with no prototype.
    const key = buildKey(id)
    return key === undefined ? undefined : this.#live.get(key)
  }

  /** Live builds, oldest first. */
  liveBuilds (): IterableIterator<Build> {
    return this.#live.values()
  }

  get liveCount (): number {
    return this.#live.size
  }

  /** Every runner seen or configured, in the order they first appeared. */
  runners (): IterableIterator<RunnerStats> {
    return this.#runners.values()
  }

  /** The most bytes of exposition text the tracker's series may write: the `maxOutputBytes` option. */
  get maxOutputBytes (): number {
    return this.#budget.max
  }

  /** The bytes charged so far: at least what the tracker's series write in a scrape, in either naming or format. */
  get usedOutputBytes (): number {
    return this.#budget.used
  }

  /**
   * How often each kind of new series was refused: a new runner's (for the output budget or
   * maxRunners), by its refused events; a stage or API series', by its dropped observations.
   */
  refusedSeries (): Record<RefusedSeries, number> {
    const counts = {} as Record<RefusedSeries, number>
    REFUSED_SERIES.forEach((kind, index) => { counts[kind] = this.#refused[index]! })
    return counts
  }

  /** How often each kind of misuse was ignored. */
  ignoredEvents (): Record<IgnoredEvent, number> {
    const counts = {} as Record<IgnoredEvent, number>
    IGNORED_EVENTS.forEach((event, index) => { counts[event] = this.#ignored[index]! })
    return counts
  }

  /** @internal */
  stageSlot (stage: string): number {
    const slot = this.#stageSlotByName.get(stage)
    if (slot === undefined) throw new InvalidStageError(describeValue(stage), describeAllowed(this.stages))
    return slot
  }

  /** @internal */
  stageName (slot: number): string {
    return slot === 0 ? NO_STAGE : this.stages[slot - 1]!
  }

  /** @internal */
  ignore (event: IgnoredEvent): void {
    this.#ignored[IGNORED_EVENTS.indexOf(event)]! += 1
  }

  /** @internal Whole milliseconds from the epoch to `now`. */
  msSinceEpoch (now: number): number {
    return Math.round((now - this.epoch) * 1000)
  }

  /** @internal */
  urlOf (build: Build): string | undefined {
    return this.#urls.get(build)
  }

  /** @internal */
  release (build: Build): void {
    this.#live.delete(build.id)
    this.#urls.delete(build)
  }

  /** @internal Charges `lines` new lines of `runner`'s series if they fit; if not, counts the refusal under `refused`. */
  charge (runner: RunnerStats, lines: number, refused: number): boolean {
    if (this.#budget.take(lines * runner.lineBytes)) return true
    this.#refused[refused]! += 1
    return false
  }

  #lineBytesOf (name: string): number {
    return this.#lineBytes + labelValueBytes(name)
  }

  #tooMany (name: string): Error {
    return new TooManyRunnersError(describeValue(name), this.maxRunners + 1, this.maxRunners)
  }

  #budgetFull (name: string, cost: number, left: number): Error {
    return new OutputBudgetFullError(describeValue(name), cost, left, this.#budget.max)
  }

  /** A runner's stats, made (and its series charged) on its first appearance; a refusal is counted and thrown. */
  #runnerStats (name: string): RunnerStats {
    let stats = this.#runners.get(name)
    if (stats === undefined) {
      if (this.#runners.size >= this.maxRunners) throw this.#refuseRunner(this.#tooMany(name))
      const lineBytes = this.#lineBytesOf(name)
      const cost = this.#runnerLines * lineBytes
      if (!this.#budget.take(cost)) throw this.#refuseRunner(this.#budgetFull(name, cost, this.#budget.left))
      stats = new RunnerStats(this, name, lineBytes)
      this.#runners.set(name, stats)
    }
    return stats
  }

  #refuseRunner (error: Error): Error {
    this.#refused[REFUSED_RUNNER]! += 1
    return error
  }
}

/** The endpoint and status of an `apiRequests` key of RunnerStats. */
export function apiRequestKey (key: number): { endpoint: ApiEndpoint, status: number } {
  return { endpoint: API_ENDPOINTS[Math.floor(key / STATUS_KEYS)]!, status: key % STATUS_KEYS }
}

/** The key of a build id: a non-empty string as it is, a finite number as its string; anything else has none. */
function buildKey (id: unknown): string | undefined {
  const key = typeof id === 'number' && Number.isFinite(id) ? String(id) : id
  return isName(key) ? key : undefined
}

function isName (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/**
 * Runner names are label values, on every line of their runner's series: a megabyte name made
 * each scrape 50 MB. This bounds one line; the output budget bounds them all together.
 */
const MAX_RUNNER_NAME_LENGTH = 256
// In Unicode mode a surrogate pair is one code point: this matches only a lone half.
const LONE_SURROGATE = /\p{Surrogate}/u

/**
 * What is wrong with a runner name as a label value, if anything. A lone surrogate half is
 * written as U+FFFD on the wire, so two names differing only there would duplicate series.
 */
function runnerNameProblem (name: string): string | undefined {
  if (name.length > MAX_RUNNER_NAME_LENGTH) return `at most ${MAX_RUNNER_NAME_LENGTH} characters long`
  if (LONE_SURROGATE.test(name)) return 'well-formed Unicode (no lone surrogate half)'
  return undefined
}

function checkRunner (where: string, runner: unknown): asserts runner is string {
  if (!isName(runner)) throw new InvalidRunnerError(where, 'a non-empty string', describeValue(runner))
  const problem = runnerNameProblem(runner)
  if (problem !== undefined) throw new InvalidRunnerError(where, problem, describeValue(runner))
}

function isObject (value: unknown): value is object {
  return typeof value === 'object' && value !== null
}

function isCount (value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0
}

function isSeconds (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
}

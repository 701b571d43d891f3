import {
  DURATION_BUCKETS,
  FAILURE_REASONS,
  FINAL_STATES,
  IGNORED_EVENTS,
  LIVE_STATES,
  NO_STAGE,
  describeAllowed,
  resolveStages,
  type FailureReason,
  type FinalState,
  type IgnoredEvent,
  type LiveState
} from './vocabulary.js'
import { bucketOf } from './buckets.js'

export interface RunnerConfig {
  /** The runner's name, the `runner` label of its series. */
  name: string
  /** The runner's `limit` (maximum concurrent builds); exported as `runner_limit`. */
  limit?: number
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
}

export interface StartOptions {
  id: string | number
  runner: string
}

export interface FinishOptions {
  state: FinalState
  /** Only with `state: 'failed'`; defaults to `unknown_failure` there. */
  failureReason?: FailureReason
}

const DEFAULT_MAX_RUNNERS = 1000
const RUNNING = LIVE_STATES.indexOf('running')
const FAILED = FINAL_STATES.indexOf('failed')
const UNKNOWN_FAILURE = FAILURE_REASONS.indexOf('unknown_failure')

function indexOf (values: readonly string[], value: unknown): number {
  return typeof value === 'string' ? values.indexOf(value) : -1
}

function monotonicSeconds (): number {
  return performance.now() / 1000
}

/**
 * What the tracker holds for one runner: plain numbers per series, read at scrape time.
 * A build event touches a few of these fields and nothing else.
 */
export class RunnerStats {
  readonly name: string
  limit: number | undefined = undefined
  started = 0
  /** Live builds by slot: `state * stageSlots + stageSlot`, stage slot 0 being "none". */
  readonly live: Float64Array
  /** Slots that have ever held a build: their series stay, at zero, once they appear. */
  readonly seen: Uint8Array
  readonly finished = new Float64Array(FINAL_STATES.length)
  readonly failures = new Float64Array(FAILURE_REASONS.length)
  /** Builds per duration bucket, not cumulative; the last slot is above the largest bound. */
  readonly durationBuckets = new Float64Array(DURATION_BUCKETS.length + 1)
  durationSum = 0

  constructor (name: string, slots: number) {
    this.name = name
    this.live = new Float64Array(slots)
    this.seen = new Uint8Array(slots)
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

  observeDuration (seconds: number): void {
    this.durationBuckets[bucketOf(DURATION_BUCKETS, seconds)]! += 1
    this.durationSum += seconds
  }
}

/** The handle of one build, returned by `BuildTracker.start`. */
export class Build {
  readonly id: string
  readonly #tracker: BuildTracker
  readonly #runner: RunnerStats
  #slot = 0
  #finalState = -1
  readonly startedAt: number
  #stageStartedAt: number
  #finishedAt = 0
  /** Seconds spent per stage slot, allocated on the first stage change. */
  #stageSeconds: number[] | undefined = undefined

  /** @internal Builds are made by `BuildTracker.start`. */
  constructor (tracker: BuildTracker, id: string, runner: RunnerStats, now: number) {
    this.#tracker = tracker
    this.id = id
    this.#runner = runner
    this.startedAt = now
    this.#stageStartedAt = now
  }

  get runner (): string {
    return this.#runner.name
  }

  get finished (): boolean {
    return this.#finalState !== -1
  }

  get state (): LiveState | FinalState {
    return this.finished ? FINAL_STATES[this.#finalState]! : LIVE_STATES[Math.floor(this.#slot / this.#tracker.stageSlots)]!
  }

  get stage (): string {
    return this.#tracker.stageName(this.#slot % this.#tracker.stageSlots)
  }

  /** Seconds since start, or from start to finish once finished. */
  get duration (): number {
    return (this.finished ? this.#finishedAt : this.#tracker.now()) - this.startedAt
  }

  /** Seconds spent in each stage entered so far, in the order of the stage list. */
  stageDurations (): Record<string, number> {
    const durations: Record<string, number> = {}
    const stageSlots = this.#tracker.stageSlots
    const current = this.#slot % stageSlots
    const end = this.finished ? this.#finishedAt : this.#tracker.now()
    for (let stage = 1; stage < stageSlots; stage++) {
      const spent = (this.#stageSeconds?.[stage] ?? 0) + (stage === current && !this.finished ? end - this.#stageStartedAt : 0)
      if (spent > 0 || stage === current) durations[this.#tracker.stageName(stage)] = spent
    }
    return durations
  }

  /**
   * Moves the build into `stage`; the first stage change makes a pending build running.
   * Throws a TypeError for a stage that is not allowed; after finish it is an ignored, counted no-op.
   */
  setStage (stage: string): void {
    const stageSlot = this.#tracker.stageSlot(stage)
    if (this.finished) {
      this.#tracker.ignore('set_stage_after_finish')
      return
    }
    const now = this.#tracker.now()
    const stageSlots = this.#tracker.stageSlots
    const from = this.#slot
    this.#stageSeconds ??= new Array<number>(stageSlots).fill(0)
    this.#stageSeconds[from % stageSlots]! += now - this.#stageStartedAt
    this.#stageStartedAt = now
    const to = RUNNING * stageSlots + stageSlot
    this.#runner.leave(from)
    this.#runner.enter(to)
    this.#slot = to
  }

  /**
   * Ends the build in a final state. Throws a TypeError for a state or reason that is not
   * allowed; finishing a finished build is an ignored, counted no-op.
   */
  finish (options: FinishOptions): void {
    const { state, failureReason } = options ?? {}
    const final = indexOf(FINAL_STATES, state)
    if (final === -1) {
      throw new TypeError(`build ${this.id}: state ${JSON.stringify(state)} is not a final state; allowed: ${describeAllowed(FINAL_STATES)}`)
    }
    let reason = UNKNOWN_FAILURE
    if (failureReason !== undefined) {
      reason = indexOf(FAILURE_REASONS, failureReason)
      if (reason === -1) {
        throw new TypeError(`build ${this.id}: failureReason ${JSON.stringify(failureReason)} is not allowed; allowed: ${describeAllowed(FAILURE_REASONS)}`)
      }
      if (final !== FAILED) {
        throw new TypeError(`build ${this.id}: failureReason is only allowed with state "failed", not ${JSON.stringify(state)}`)
      }
    }
    if (this.finished) {
      this.#tracker.ignore('finish_after_finish')
      return
    }
    const runner = this.#runner
    this.#finishedAt = this.#tracker.now()
    this.#finalState = final
    if (this.#stageSeconds !== undefined) {
      this.#stageSeconds[this.#slot % this.#tracker.stageSlots]! += this.#finishedAt - this.#stageStartedAt
    }
    runner.leave(this.#slot)
    runner.finished[final]! += 1
    if (final === FAILED) runner.failures[reason]! += 1
    runner.observeDuration(this.#finishedAt - this.startedAt)
    this.#tracker.release(this)
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
  readonly #stageSlotByName = new Map<string, number>()
  readonly #runners = new Map<string, RunnerStats>()
  readonly #live = new Map<string, Build>()
  readonly #ignored = new Float64Array(IGNORED_EVENTS.length)

  constructor (options: BuildTrackerOptions = {}) {
    this.stages = resolveStages(options.stages)
    this.stageSlots = this.stages.length + 1
    this.stages.forEach((stage, index) => this.#stageSlotByName.set(stage, index + 1))
    this.now = options.now ?? monotonicSeconds
    this.maxRunners = options.maxRunners ?? DEFAULT_MAX_RUNNERS
    if (!Number.isInteger(this.maxRunners) || this.maxRunners < 1) {
      throw new TypeError(`maxRunners must be a positive integer, got ${JSON.stringify(options.maxRunners)}`)
    }
    this.configure(options)
  }

  /**
   * Applies the runner configuration: limits, `concurrent`, and idle series for every runner.
   * A runner that leaves the configuration keeps its counters (they never go back) but loses its limit.
   */
  configure (config: TrackerConfig): void {
    const limits = this.#validate(config)
    for (const stats of this.#runners.values()) stats.limit = undefined
    for (const [name, limit] of limits) this.#runnerStats(name).limit = limit
    this.concurrent = config.concurrent
  }

  /** Throws what `configure(config)` would throw, and changes nothing: a reload checks before it applies. */
  checkConfig (config: TrackerConfig): void {
    this.#validate(config)
  }

  /** The runners' limits by name, once every value and the runner cap have been checked. */
  #validate (config: TrackerConfig): Map<string, number | undefined> {
    const { runners = [], concurrent } = config
    if (concurrent !== undefined && !isCount(concurrent)) {
      throw new TypeError(`concurrent must be a non-negative integer, got ${JSON.stringify(concurrent)}`)
    }
    if (!Array.isArray(runners)) throw new TypeError('runners must be an array of { name, limit? }')
    const limits = new Map<string, number | undefined>()
    let added = 0
    for (const runner of runners as unknown[]) {
      const { name, limit } = (runner ?? {}) as Partial<RunnerConfig>
      if (!isName(name)) throw new TypeError(`runners: every runner needs a non-empty string name, got ${JSON.stringify(name)}`)
      if (limit !== undefined && !isCount(limit)) {
        throw new TypeError(`runners: limit of runner "${name}" must be a non-negative integer, got ${JSON.stringify(limit)}`)
      }
      if (limits.has(name)) throw new TypeError(`runners: runner "${name}" is listed twice`)
      limits.set(name, limit)
      if (!this.#runners.has(name) && this.#runners.size + ++added > this.maxRunners) throw this.#tooMany(name)
    }
    return limits
  }

  /** Starts tracking a build as pending with no stage. Throws when the id is live already. */
  start (options: StartOptions): Build {
    const { id, runner } = options ?? {}
    const key = typeof id === 'number' && Number.isFinite(id) ? String(id) : id
    if (!isName(key)) throw new TypeError(`build id must be a non-empty string or a number, got ${JSON.stringify(id)}`)
    if (!isName(runner)) throw new TypeError(`build ${key}: runner must be a non-empty string, got ${JSON.stringify(runner)}`)
    if (this.#live.has(key)) {
      throw new Error(`build ${key} is already running on runner "${this.#live.get(key)!.runner}"; finish it before starting it again`)
    }
    const stats = this.#runnerStats(runner)
    const build = new Build(this, key, stats, this.now())
    this.#live.set(key, build)
    stats.started += 1
    stats.enter(0)
    return build
  }

  /** The live build with this id, if any. */
  get (id: string | number): Build | undefined {
    return this.#live.get(String(id))
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

  /** How often each kind of misuse was ignored. */
  ignoredEvents (): Record<IgnoredEvent, number> {
    const counts = {} as Record<IgnoredEvent, number>
    IGNORED_EVENTS.forEach((event, index) => { counts[event] = this.#ignored[index]! })
    return counts
  }

  /** @internal */
  stageSlot (stage: string): number {
    const slot = this.#stageSlotByName.get(stage)
    if (slot === undefined) {
      throw new TypeError(`stage ${JSON.stringify(stage)} is not allowed; allowed: ${describeAllowed(this.stages)} (add more with the stages option)`)
    }
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

  /** @internal */
  release (build: Build): void {
    this.#live.delete(build.id)
  }

  #tooMany (name: string): Error {
    return new Error(`runner "${name}" would be runner number ${this.maxRunners + 1}; the tracker accepts at most ${this.maxRunners} (the maxRunners option) to keep label cardinality bounded`)
  }

  #runnerStats (name: string): RunnerStats {
    let stats = this.#runners.get(name)
    if (stats === undefined) {
      if (this.#runners.size >= this.maxRunners) throw this.#tooMany(name)
      stats = new RunnerStats(name, LIVE_STATES.length * this.stageSlots)
      this.#runners.set(name, stats)
    }
    return stats
  }
}

function isName (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

function isCount (value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0
}

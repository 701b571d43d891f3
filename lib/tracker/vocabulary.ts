import { describeValue } from './describe.js'

/**
 * The closed sets of label values a build can produce. Keeping them closed is what bounds
 * the cardinality of every build metric: only runner names come from outside.
 */

/** States a build is in while it is live. */
export const LIVE_STATES = ['pending', 'running'] as const
export type LiveState = typeof LIVE_STATES[number]

/** States a build ends in; `terminated` is GitLab Runner's for a build ended by an interrupt or a panic. */
export const FINAL_STATES = ['success', 'failed', 'canceled', 'timedout', 'terminated'] as const
export type FinalState = typeof FINAL_STATES[number]

/** GitLab Runner's build stages, in the order a build passes through them. */
export const BUILTIN_STAGES = [
  'resolve_secrets',
  'prepare_executor',
  'prepare_script',
  'get_sources',
  'clear_worktree',
  'restore_cache',
  'download_artifacts',
  'step_script',
  'after_script',
  'archive_cache',
  'archive_cache_on_failure',
  'upload_artifacts_on_success',
  'upload_artifacts_on_failure',
  'cleanup_file_variables'
] as const
export type BuiltinStage = typeof BUILTIN_STAGES[number]

/** The stage label of a build that has not entered any stage yet. */
export const NO_STAGE = 'none'

/** GitLab Runner's failure reasons. */
export const FAILURE_REASONS = [
  'script_failure',
  'runner_system_failure',
  'job_execution_timeout',
  'image_pull_failure',
  'unknown_failure',
  'runner_configuration_error',
  'runner_external_dependency_failure',
  'runner_interrupted',
  'job_canceled'
] as const
export type FailureReason = typeof FAILURE_REASONS[number]

/** Upper bounds of `runner_build_duration_seconds`: job-length scale, from 30 s to 10 h. */
export const DURATION_BUCKETS = [30, 60, 300, 600, 1800, 3600, 7200, 10800, 18000, 36000] as const

/**
 * Upper bounds of `runner_build_queue_duration_seconds` and `runner_build_stage_duration_seconds`:
 * GitLab Runner's for both (its job queue and job stage histograms), from 1 s to an hour.
 */
export const QUEUE_BUCKETS = [1, 3, 10, 30, 60, 120, 300, 900, 1800, 3600] as const
export const STAGE_BUCKETS = QUEUE_BUCKETS

/** GitLab Runner's names of the GitLab API endpoints its requests go to. */
export const API_ENDPOINTS = [
  'request_job',
  'update_job',
  'patch_trace',
  'register_runner',
  'verify_runner',
  'unregister_runner',
  'reset_token',
  'get_job'
] as const
export type ApiEndpoint = typeof API_ENDPOINTS[number]

/** Upper bounds of `runner_api_request_duration_seconds`: GitLab Runner's, 100 ms to a minute. */
export const API_REQUEST_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const

/** Events that misuse the tracker and are ignored rather than allowed to corrupt a count. */
export const IGNORED_EVENTS = ['finish_after_finish', 'set_stage_after_finish', 'job_request_done_twice'] as const
export type IgnoredEvent = typeof IGNORED_EVENTS[number]

/**
 * Series a tracker refuses to create when they would not fit its output budget (`runner`: a new
 * runner, refused for the budget or for maxRunners), each counted. Lazily created series only:
 * a runner's other series are charged with it.
 */
export const REFUSED_SERIES = ['runner', 'build_stage_duration', 'api_requests', 'api_request_duration'] as const
export type RefusedSeries = typeof REFUSED_SERIES[number]

const STAGE_NAME = /^[a-z][a-z0-9_]*$/
/**
 * Extra stages each add a live-builds slot and a stage histogram to every runner: 10,000 of
 * them made 1.1 MB of counts per runner. GitLab Runner has 14; 64 more is generous.
 */
const MAX_EXTRA_STAGES = 64
/** Stage names are label values on many lines: as long as the longest built-in twice over, and more. */
const MAX_STAGE_NAME_LENGTH = 64

/**
 * Builds the stage list from the built-in stages and a user's extra ones.
 * Throws a TypeError naming the bad entry: stage names become label values.
 */
export function resolveStages (extra: readonly unknown[] = []): readonly string[] {
  // A string is iterable too: 'my_stage' would have been taken letter by letter.
  if (!Array.isArray(extra)) throw new TypeError(`stages must be an array of stage names, got ${describeValue(extra)}`)
  const stages = new Set<string>(BUILTIN_STAGES)
  for (const stage of extra as unknown[]) {
    if (typeof stage !== 'string' || !STAGE_NAME.test(stage) || stage === NO_STAGE || stage.length > MAX_STAGE_NAME_LENGTH) {
      throw new TypeError(`stage ${describeValue(stage)} is not allowed: a stage name matches ${STAGE_NAME.source}, is not "${NO_STAGE}" and is at most ${MAX_STAGE_NAME_LENGTH} characters long`)
    }
    stages.add(stage)
  }
  const added = stages.size - BUILTIN_STAGES.length
  if (added > MAX_EXTRA_STAGES) throw new TypeError(`stages: at most ${MAX_EXTRA_STAGES} stages beside GitLab Runner's own, got ${added}`)
  return [...stages]
}

export function describeAllowed (values: readonly string[]): string {
  return values.join(', ')
}

import runnerMetrics from './plugin.js'

export default runnerMetrics
export { runnerMetrics }
export type { RunnerMetricsOptions } from './plugin-options.js'
export { Build, BuildTracker, RunnerStats } from './build-tracker.js'
export type { BuildTrackerOptions, FinishOptions, RunnerConfig, StartOptions, TrackerConfig } from './build-tracker.js'
export { BUILTIN_STAGES, FAILURE_REASONS, FINAL_STATES, LIVE_STATES, DURATION_BUCKETS } from './build-vocabulary.js'
export type { BuiltinStage, FailureReason, FinalState, LiveState } from './build-vocabulary.js'
export type { VersionInfo } from './collectors/version.js'

import runnerMetrics from './plugin.js'

export default runnerMetrics
export { runnerMetrics }
export type { RunnerMetricsOptions } from './plugin-options.js'
export { Build, BuildTracker, RunnerStats } from './build-tracker.js'
export type { BuildTrackerOptions, FinishOptions, RunnerConfig, StartOptions, TrackerConfig } from './build-tracker.js'
export { BUILTIN_STAGES, FAILURE_REASONS, FINAL_STATES, LIVE_STATES, DURATION_BUCKETS } from './build-vocabulary.js'
export type { BuiltinStage, FailureReason, FinalState, LiveState } from './build-vocabulary.js'
export type { VersionInfo } from './collectors/version.js'
export { startMetricsServer } from './metrics-server.js'
export type { MetricsServer, MetricsServerOptions, ReloadResult } from './metrics-server.js'
export { ConfigError, configFromObject, loadConfig, parseConfig } from './config.js'
export type { LogLevel, RunnerManagerConfig } from './config.js'
export { parseAddress } from './address.js'
export type { ListenAddress } from './address.js'
export { ListenError } from './listener.js'

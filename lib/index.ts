import runnerMetrics from './plugin/plugin.js'

export default runnerMetrics
export { runnerMetrics }
export type { EndpointOptions, JobsListOptions, RunnerMetricsOptions } from './plugin/options.js'
export { AlreadyRegisteredError, OptionInvalidError, RegistryConflictError } from './plugin/errors.js'
// The prom-client the plugin's registry comes from: register your own metrics with it, so
// they are of the same major version as the registry that serves them.
export * as promClient from 'prom-client'
export { Build, BuildTracker, JobRequest, RunnerStats } from './tracker/build-tracker.js'
export type { ApiRequestOptions, BuildTrackerOptions, FinishOptions, RunnerConfig, StartOptions, TrackerConfig } from './tracker/build-tracker.js'
export { API_ENDPOINTS, API_REQUEST_BUCKETS, BUILTIN_STAGES, FAILURE_REASONS, FINAL_STATES, LIVE_STATES, DURATION_BUCKETS, QUEUE_BUCKETS, STAGE_BUCKETS } from './tracker/vocabulary.js'
export type { ApiEndpoint, BuiltinStage, FailureReason, FinalState, LiveState, RefusedSeries } from './tracker/vocabulary.js'
export type { Naming } from './plugin/naming.js'
export type { VersionInfo } from './plugin/collectors/version.js'

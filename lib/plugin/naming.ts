import { describeValue } from '../tracker/describe.js'

/**
 * The one place metric names are mapped. Collectors write every family under its `runner_`
 * name and ask `metricName` for the name to register, so each family is written once and
 * `naming: 'gitlab-runner'` gives GitLab Runner's names, for dashboards and alerts made for it.
 */
export const NAMINGS = ['runner', 'gitlab-runner'] as const
export type Naming = typeof NAMINGS[number]

/** Families GitLab Runner names differently; every other `runner_` family takes the `gitlab_runner_` prefix. */
export const GITLAB_RUNNER_NAMES: Readonly<Record<string, string>> = {
  runner_builds: 'gitlab_runner_jobs',
  runner_builds_started_total: 'gitlab_runner_jobs_total',
  runner_build_duration_seconds: 'gitlab_runner_job_duration_seconds',
  runner_build_failures_total: 'gitlab_runner_failed_jobs_total',
  runner_build_queue_duration_seconds: 'gitlab_runner_job_queue_duration_seconds',
  runner_build_stage_duration_seconds: 'gitlab_runner_job_stage_duration_seconds',
  runner_config_loaded_total: 'gitlab_runner_configuration_loaded_total',
  runner_config_load_errors_total: 'gitlab_runner_configuration_loading_error_total',
  runner_api_requests_total: 'gitlab_runner_api_request_statuses_total'
}

const PREFIX = 'runner_'

/** The name a `runner_` family is exported under; other families (process_, nodejs_) keep theirs. */
export function metricName (name: string, naming: Naming): string {
  if (naming === 'runner' || !name.startsWith(PREFIX)) return name
  return GITLAB_RUNNER_NAMES[name] ?? `gitlab_${name}`
}

/** Checks a naming from an option, a flag or a config key; the error names `where` and the allowed values. */
export function parseNaming (value: unknown, where: string): Naming {
  if (isNaming(value)) return value
  throw new TypeError(`${where} ${namingProblem(value)}`)
}

export function isNaming (value: unknown): value is Naming {
  return (NAMINGS as readonly unknown[]).includes(value)
}

/** What is wrong with a value that is not a naming, for an error message. */
export function namingProblem (value: unknown): string {
  return `must be one of ${NAMINGS.map((naming) => JSON.stringify(naming)).join(', ')}, got ${describeValue(value)}`
}

/** What collectors are given: their family's `runner_` name in, the exported name out. */
export type Rename = (name: string) => string

export function renamer (naming: Naming): Rename {
  return (name) => metricName(name, naming)
}

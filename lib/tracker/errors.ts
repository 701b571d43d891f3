import { createError, type FastifyError } from '@fastify/error'

/*
 * What a misuse of the tracker throws: a TypeError for a value outside its allowed set, an
 * Error for a call the tracker's state refuses. Each has a code (`error.code`) a caller can
 * test instead of the message; the message names the allowed values. Arguments are
 * preformatted strings (values as JSON, lists joined), so a message never shows an object.
 */
type Text = string | number

/**
 * @fastify/error's class with its code and message template, named as its base class
 * (`TypeError`, `Error`) rather than `FastifyError`: code that checks `error.name`, or matches
 * a TypeError as tap does, keeps working.
 */
function defineError<Code extends string, Args extends Text[]> (code: Code, message: string, Base: ErrorConstructor = Error): new (...args: Args) => FastifyError & { code: Code } {
  const CodedError = createError<Code, Args>(code, message, 500, Base)
  return class extends CodedError {
    constructor (...args: Args) {
      super(...args)
      this.name = Base.name
    }
  }
}

export const InvalidBuildIdError = defineError<'FST_RUNNER_METRICS_INVALID_BUILD_ID', [id: Text]>(
  'FST_RUNNER_METRICS_INVALID_BUILD_ID', 'build id must be a non-empty string or a number, got %s', TypeError)
export const InvalidRunnerError = defineError<'FST_RUNNER_METRICS_INVALID_RUNNER', [where: Text, requirement: Text, runner: Text]>(
  'FST_RUNNER_METRICS_INVALID_RUNNER', '%s: runner must be %s, got %s', TypeError)
export const InvalidStageError = defineError<'FST_RUNNER_METRICS_INVALID_STAGE', [stage: Text, allowed: Text]>(
  'FST_RUNNER_METRICS_INVALID_STAGE', 'stage %s is not allowed; allowed: %s (add more with the stages option)', TypeError)
export const InvalidStateError = defineError<'FST_RUNNER_METRICS_INVALID_STATE', [build: Text, state: Text, allowed: Text]>(
  'FST_RUNNER_METRICS_INVALID_STATE', 'build %s: state %s is not a final state; allowed: %s', TypeError)
export const InvalidFailureReasonError = defineError<'FST_RUNNER_METRICS_INVALID_FAILURE_REASON', [build: Text, reason: Text, allowed: Text]>(
  'FST_RUNNER_METRICS_INVALID_FAILURE_REASON', 'build %s: failureReason %s is not allowed; allowed: %s', TypeError)
export const FailureReasonWithoutFailedError = defineError<'FST_RUNNER_METRICS_FAILURE_REASON_WITHOUT_FAILED', [build: Text, state: Text]>(
  'FST_RUNNER_METRICS_FAILURE_REASON_WITHOUT_FAILED', 'build %s: failureReason is only allowed with state "failed", not %s', TypeError)
export const InvalidValueError = defineError<'FST_RUNNER_METRICS_INVALID_VALUE', [where: Text, name: Text, allowed: Text, value: Text]>(
  'FST_RUNNER_METRICS_INVALID_VALUE', '%s: %s must be %s, got %s', TypeError)
export const InvalidEndpointError = defineError<'FST_RUNNER_METRICS_INVALID_ENDPOINT', [endpoint: Text, allowed: Text]>(
  'FST_RUNNER_METRICS_INVALID_ENDPOINT', 'apiRequest: endpoint %s is not allowed; allowed: %s', TypeError)
export const InvalidConfigError = defineError<'FST_RUNNER_METRICS_INVALID_CONFIG', [problem: Text]>(
  'FST_RUNNER_METRICS_INVALID_CONFIG', '%s', TypeError)
export const BuildRunningError = defineError<'FST_RUNNER_METRICS_BUILD_RUNNING', [build: Text, runner: Text]>(
  'FST_RUNNER_METRICS_BUILD_RUNNING', 'build %s is already running on runner %s; finish it before starting it again')
export const TooManyRunnersError = defineError<'FST_RUNNER_METRICS_TOO_MANY_RUNNERS', [runner: Text, number: Text, max: Text]>(
  'FST_RUNNER_METRICS_TOO_MANY_RUNNERS', 'runner %s would be runner number %s; the tracker accepts at most %s (the maxRunners option) to keep label cardinality bounded')
export const OutputBudgetFullError = defineError<'FST_RUNNER_METRICS_OUTPUT_BUDGET_FULL', [runner: Text, bytes: Text, left: Text, max: Text]>(
  'FST_RUNNER_METRICS_OUTPUT_BUDGET_FULL', 'runner %s does not fit the tracker\'s output budget: its series take up to %s bytes of /metrics text, %s of the %s of maxOutputBytes are left (long runner names take more)')

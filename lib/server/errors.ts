import { createError } from '@fastify/error'

/**
 * Errors an operator can cause, with stable codes (prefix FST_RUNNER_METRICS_) for code that
 * handles them, as Fastify's own errors have. Each stays a class of its own: `instanceof` works,
 * and `name` says which it is. Messages are written for the operator and never hold a secret.
 */

/** A problem a user can fix in their config: the message names the file and the key or line. */
export class ConfigError extends createError('FST_RUNNER_METRICS_CONFIG_INVALID', '%s') {
  override name = 'ConfigError'
}

/** A listen address that cannot be bound; the message says which and why. */
export class ListenError extends createError('FST_RUNNER_METRICS_LISTEN_FAILED', '%s') {
  override name = 'ListenError'
}

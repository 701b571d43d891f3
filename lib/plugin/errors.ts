import { createError } from '@fastify/error'

// The plugin's errors carry codes as the Fastify family's do (FST_*), so an app can tell them
// apart by `code` instead of by message. Each message names what is wrong and what is allowed.

/** An option of `register(runnerMetrics, options)` is unknown or has a wrong value (what and why in the message). */
export const OptionInvalidError = createError<'FST_RUNNER_METRICS_OPTION_INVALID', 500, [problem: string]>(
  'FST_RUNNER_METRICS_OPTION_INVALID', 'fastify-runner-metrics: %s', 500, TypeError)

/** The plugin, or another plugin's `runnerRegistry`/`builds` decorator, is already on the instance. */
export const AlreadyRegisteredError = createError<'FST_RUNNER_METRICS_ALREADY_REGISTERED', 500, []>(
  'FST_RUNNER_METRICS_ALREADY_REGISTERED',
  'fastify-runner-metrics is already registered on this Fastify instance (or another plugin decorates "runnerRegistry" or "builds"); register it once per instance', 500)

/** The registry given already holds one of the plugin's metric names. */
export const RegistryConflictError = createError<'FST_RUNNER_METRICS_REGISTRY_CONFLICT', 500, [cause: string]>(
  'FST_RUNNER_METRICS_REGISTRY_CONFLICT',
  'fastify-runner-metrics: the registry already holds one of its metrics (%s); give each instance its own registry, and set defaultMetrics: false on one that has prom-client\'s default metrics', 500)

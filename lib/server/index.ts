// The `fastify-runner-metrics/server` entry: the standalone server in embeddable form.
export { startMetricsServer } from './metrics-server.js'
export type { MetricsServer, MetricsServerOptions, ReloadResult } from './metrics-server.js'
export { ConfigError, configFromObject, loadConfig, parseConfig } from './config.js'
export type { LogLevel, RunnerManagerConfig } from './config.js'
export { parseAddress } from './address.js'
export type { ListenAddress } from './address.js'
export { ListenError } from './listener.js'

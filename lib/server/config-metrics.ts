import type { Registry } from 'prom-client'
import { registerFamily } from '../plugin/collectors/scrape-time-metric.js'
import { NO_LABELS } from '../plugin/text-format.js'
import type { Rename } from '../plugin/naming.js'

/** Outcomes of config loads, as plain numbers read at scrape time. */
export class ConfigLoadStats {
  loaded = 0
  errors = 0
  /** Unix time in seconds of the last successful load; 0 before the first. */
  lastSuccess = 0

  success (now = Date.now()): void {
    this.loaded++
    this.lastSuccess = now / 1000
  }

  failure (): void {
    this.errors++
  }
}

export function registerConfigMetrics (registry: Registry, stats: ConfigLoadStats, rename: Rename): void {
  registerFamily(registry, {
    name: rename('runner_config_loaded_total'),
    help: 'Successful loads of the config file, at start and on reload.',
    type: 'counter',
    read: () => [{ labels: NO_LABELS, value: stats.loaded }]
  })
  registerFamily(registry, {
    name: rename('runner_config_load_errors_total'),
    help: 'Failed loads of the config file (the last good config stays in force).',
    type: 'counter',
    read: () => [{ labels: NO_LABELS, value: stats.errors }]
  })
  registerFamily(registry, {
    name: rename('runner_config_last_load_success_timestamp_seconds'),
    help: 'Unix time of the last successful config load.',
    type: 'gauge',
    read: () => [{ labels: NO_LABELS, value: stats.lastSuccess }]
  })
}

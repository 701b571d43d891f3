import { collectDefaultMetrics, type Metric, type Registry } from 'prom-client'
import { registerFamily, type Sample } from './scrape-time-metric.js'

/**
 * prom-client's default gauges that are named like counters, and the names they get here:
 * `promtool check metrics` rejects a gauge ending in `_total`.
 */
const RENAMED = {
  nodejs_active_handles_total: 'nodejs_active_handles_all',
  nodejs_active_requests_total: 'nodejs_active_requests_all',
  nodejs_active_resources_total: 'nodejs_active_resources_all'
} as const

/** Node.js runtime and process metrics (CPU, memory, FDs, heap, GC, event loop) on `registry`. */
export function registerRuntimeMetrics (registry: Registry): void {
  collectDefaultMetrics({ register: registry })
  for (const original of registry.getMetricsAsArray()) {
    const to = RENAMED[original.name as keyof typeof RENAMED]
    if (to === undefined) continue
    registry.removeSingleMetric(original.name)
    registerFamily(registry, {
      name: to,
      help: original.help,
      type: 'gauge',
      read: async () => ((await (original as unknown as Metric).get()).values as Sample[])
    })
  }
}

import type { Registry } from 'prom-client'
import { registerEventLoopMetrics } from './event-loop.js'
import { registerGcMetrics } from './gc.js'
import { registerNodejsMetrics } from './nodejs.js'
import { registerProcessMetrics } from './process.js'
import type { Sampler } from './scrape-time-metric.js'

/**
 * Node.js runtime and process metrics (CPU, memory, FDs, heap, GC, event loop) on `registry`,
 * under prom-client's default names (its `nodejs_active_*_total` gauges end in `_all` here).
 * They are this package's own rather than prom-client's collectDefaultMetrics because those
 * cannot be stopped (every registration leaves an event-loop monitor and a GC observer running
 * for good) and cost most of a scrape. Returns what starts the event-loop sampler and the GC
 * observer and holds the /proc files open, and returns what stops them: nothing runs and
 * nothing is held until the caller's registration succeeded.
 */
export function registerRuntimeMetrics (registry: Registry, options: { eventLoopResolution?: number } = {}): Sampler {
  const procFiles = registerProcessMetrics(registry)
  registerNodejsMetrics(registry)
  const samplers = [procFiles, registerEventLoopMetrics(registry, options.eventLoopResolution), registerGcMetrics(registry)]
  return () => {
    const stops = samplers.map((start) => start())
    return () => { for (const stop of stops) stop() }
  }
}

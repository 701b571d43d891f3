import type { Registry } from 'prom-client'
import { registerEventLoopMetrics } from './event-loop.js'
import { registerGcMetrics } from './gc.js'
import { registerNodejsMetrics } from './nodejs.js'
import { registerProcessMetrics } from './process.js'

/**
 * Node.js runtime and process metrics (CPU, memory, FDs, heap, GC, event loop) on `registry`,
 * under prom-client's default names (its `nodejs_active_*_total` gauges end in `_all` here).
 * They are this package's own rather than prom-client's collectDefaultMetrics because those
 * cannot be stopped (every registration leaves an event-loop monitor and a GC observer running
 * for good) and cost most of a scrape. Returns the function that stops the timer and observer.
 */
export function registerRuntimeMetrics (registry: Registry): () => void {
  registerProcessMetrics(registry)
  registerNodejsMetrics(registry)
  const stopEventLoop = registerEventLoopMetrics(registry)
  let stopGc: () => void
  try {
    stopGc = registerGcMetrics(registry)
  } catch (error) {
    // A registry that refuses the last family must not keep the event-loop timer of the one before.
    stopEventLoop()
    throw error
  }
  return () => {
    stopEventLoop()
    stopGc()
  }
}

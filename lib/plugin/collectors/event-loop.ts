import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Registry } from 'prom-client'
import { NO_LABELS } from '../text-format.js'
import { oncePerScrape, registerFamily, type Sampler } from './scrape-time-metric.js'

/** The default sampling period of the event-loop delay, in ms (the `eventLoopResolution` option). */
export const DEFAULT_EVENT_LOOP_RESOLUTION = 100

const STATISTICS = [
  ['min', 'The minimum recorded event loop delay.', 'min'],
  ['max', 'The maximum recorded event loop delay.', 'max'],
  ['mean', 'The mean of the recorded event loop delays.', 'average'],
  ['stddev', 'The standard deviation of the recorded event loop delays.', 'average'],
  ['p50', 'The 50th percentile of the recorded event loop delays.', 'average'],
  ['p90', 'The 90th percentile of the recorded event loop delays.', 'average'],
  ['p99', 'The 99th percentile of the recorded event loop delays.', 'average']
] as const
type Period = Record<typeof STATISTICS[number][0], number>

/**
 * nodejs_eventloop_lag_* under prom-client's names, from Node's monitorEventLoopDelay: a libuv
 * timer in C++ every `resolution` ms, no JavaScript timer. Every wake-up of an idle process costs
 * CPU, so the default samples every 100 ms (prom-client: 10 ms): a block shorter than that shows
 * when a sample falls in it. Each statistic is the delay beyond the timer's period (prom-client
 * reports the period too), so figures compare across resolutions; they cover the time since the
 * last scrape. Returns what starts the monitor (and returns what stops it).
 */
export function registerEventLoopMetrics (registry: Registry, resolution = DEFAULT_EVENT_LOOP_RESOLUTION): Sampler {
  // Made when it starts, never before: a monitor made and never enabled holds a referenced libuv
  // timer, and once garbage-collected, Node aborts the process in the next
  // process._getActiveHandles() (which every scrape reads) until the timer is closed.
  let delays: IntervalHistogram | undefined
  // All statistics are read at once, once per scrape, and the next period starts: every family of
  // one scrape agrees, whichever the registry asks first. A period with no sample keeps the last.
  let period: Period = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 }
  const current = oncePerScrape((): Period => {
    if (delays !== undefined && delays.count > 0) {
      const beyond = (nanos: number): number => Math.max(0, nanos / 1e9 - resolution / 1000)
      period = {
        min: beyond(delays.min),
        max: beyond(delays.max),
        mean: beyond(delays.mean),
        stddev: delays.stddev / 1e9,
        p50: beyond(delays.percentile(50)),
        p90: beyond(delays.percentile(90)),
        p99: beyond(delays.percentile(99))
      }
      delays.reset()
    }
    return period
  })

  // As prom-client: how long a callback queued at a scrape waited for its turn, reported at the next.
  let lag = 0
  registerFamily(registry, {
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    type: 'gauge',
    aggregator: 'average',
    read: () => {
      const start = performance.now()
      setImmediate(() => { lag = (performance.now() - start) / 1000 })
      return [{ labels: NO_LABELS, value: lag }]
    }
  })
  for (const [statistic, help, aggregator] of STATISTICS) {
    registerFamily(registry, { name: `nodejs_eventloop_lag_${statistic}_seconds`, help, type: 'gauge', aggregator, read: () => [{ labels: NO_LABELS, value: current()[statistic] }] })
  }
  return () => {
    const started = delays = monitorEventLoopDelay({ resolution })
    started.enable()
    return () => started.disable()
  }
}

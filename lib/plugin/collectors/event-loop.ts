import { createHistogram } from 'node:perf_hooks'
import type { Registry } from 'prom-client'
import { oncePerScrape, registerFamily, type Sampler } from './scrape-time-metric.js'

const SAMPLE_EVERY_MS = 10

/**
 * nodejs_eventloop_lag_* from a timer that notes how late it fires. Node's own
 * monitorEventLoopDelay keeps a histogram so fine that reading five statistics from it costs
 * a quarter of a millisecond per scrape; this one (microseconds, two significant figures)
 * costs a few microseconds. The statistics cover the time since the last scrape, as before.
 * Returns what starts the timer (and returns what stops it).
 */
export function registerEventLoopMetrics (registry: Registry): Sampler {
  const delays = createHistogram({ lowest: 1, highest: 100_000_000, figures: 2 })
  let latest = 0
  // All statistics are read at once, once per scrape, and the next period starts: every family of
  // one scrape agrees, whichever the registry asks first.
  let period = { min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 }
  const current = oncePerScrape((): typeof period => {
    if (delays.count > 0) {
      const seconds = (micros: number): number => micros / 1e6
      period = { min: seconds(delays.min), max: seconds(delays.max), mean: seconds(delays.mean), stddev: seconds(delays.stddev), p50: seconds(delays.percentile(50)), p90: seconds(delays.percentile(90)), p99: seconds(delays.percentile(99)) }
      delays.reset()
    }
    return period
  })

  registerFamily(registry, { name: 'nodejs_eventloop_lag_seconds', help: 'Lag of event loop in seconds.', type: 'gauge', read: () => { current(); return [{ labels: {}, value: latest }] } })
  const statistics = [
    ['min', 'The minimum recorded event loop delay.'],
    ['max', 'The maximum recorded event loop delay.'],
    ['mean', 'The mean of the recorded event loop delays.'],
    ['stddev', 'The standard deviation of the recorded event loop delays.'],
    ['p50', 'The 50th percentile of the recorded event loop delays.'],
    ['p90', 'The 90th percentile of the recorded event loop delays.'],
    ['p99', 'The 99th percentile of the recorded event loop delays.']
  ] as const
  for (const [statistic, help] of statistics) {
    registerFamily(registry, { name: `nodejs_eventloop_lag_${statistic}_seconds`, help, type: 'gauge', read: () => [{ labels: {}, value: current()[statistic] }] })
  }
  return () => {
    let expected = performance.now() + SAMPLE_EVERY_MS
    const timer = setInterval(() => {
      const now = performance.now()
      latest = Math.max(0, now - expected) / 1000
      delays.record(Math.max(1, Math.round(latest * 1e6)))
      expected = now + SAMPLE_EVERY_MS
    }, SAMPLE_EVERY_MS).unref()
    return () => clearInterval(timer)
  }
}

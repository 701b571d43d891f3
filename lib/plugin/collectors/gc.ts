import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks'
import type { Registry } from 'prom-client'
import { bucketOf } from '../../tracker/buckets.js'
import { histogramNames, histogramSamples } from './histograms.js'
import { histogramLabels } from './reused-labels.js'
import { registerFamily, type Sample, type Sampler } from './scrape-time-metric.js'

const BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5]
// V8's GC types; Node names four of them. V8's minor mark-sweep (2, under --minor-mc) is a
// young-generation collection like a scavenge, so it counts as minor. Any other kind a future
// V8 adds is skipped rather than trusted: an observer callback must never throw into the host.
const V8_MINOR_MARK_SWEEP = 2
const KINDS = new Map([
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [V8_MINOR_MARK_SWEEP, 'minor'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb']
])

/**
 * nodejs_gc_duration_seconds{kind}: every kind present from the start, counted in plain
 * numbers as collections happen. Returns what starts observing (and returns what stops it).
 */
export function registerGcMetrics (registry: Registry): Sampler {
  const names = histogramNames('nodejs_gc_duration_seconds')
  const byKind = new Map([...KINDS.values()].map((kind) => [kind, { labels: histogramLabels({ kind }, BUCKETS), counts: new Float64Array(BUCKETS.length + 1), sum: 0 }]))
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind: number } }>) {
      const kind = KINDS.get(entry.detail!.kind)
      if (kind === undefined) continue
      const histogram = byKind.get(kind)!
      const seconds = entry.duration / 1000
      histogram.counts[bucketOf(BUCKETS, seconds)]! += 1
      histogram.sum += seconds
    }
  })
  registerFamily(registry, {
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    type: 'histogram',
    read: () => {
      const samples: Sample[] = []
      for (const histogram of byKind.values()) histogramSamples(names, histogram.labels, histogram.counts, histogram.sum, samples)
      return samples
    }
  })
  return () => {
    observer.observe({ entryTypes: ['gc'] })
    return () => observer.disconnect()
  }
}

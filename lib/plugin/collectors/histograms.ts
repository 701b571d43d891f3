import type { Histograms } from '../../tracker/buckets.js'
import type { HistogramLabels } from './reused-labels.js'
import type { Sample } from './scrape-time-metric.js'

/** The samples of one histogram series from its non-cumulative bucket counts (the last one above every bound). */
export function histogramSamples (name: string, labels: HistogramLabels, counts: ArrayLike<number>, sum: number, into: Sample[]): void {
  const bucket = `${name}_bucket`
  let cumulative = 0
  for (let index = 0; index < labels.buckets.length; index++) {
    cumulative += counts[index]!
    into.push({ metricName: bucket, labels: labels.buckets[index]!, value: cumulative })
  }
  into.push({ metricName: `${name}_sum`, labels: labels.series, value: sum }, { metricName: `${name}_count`, labels: labels.series, value: cumulative })
}

/**
 * The samples of every series of `histograms`, labelled by `labels`; with `always` false a
 * series appears only once it has seen a value (a stage, an endpoint that happened).
 */
export function seriesSamples (name: string, histograms: Histograms, labels: (series: number) => HistogramLabels, always: boolean, into: Sample[]): void {
  for (let series = 0; series < histograms.sums.length; series++) {
    if (!always && histograms.total(series) === 0) continue
    histogramSamples(name, labels(series), histograms.countsOf(series), histograms.sums[series]!, into)
  }
}

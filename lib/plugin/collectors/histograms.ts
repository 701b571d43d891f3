import type { Histograms } from '../../tracker/buckets.js'
import { histogramSamples, type Sample } from './scrape-time-metric.js'

/**
 * The samples of every series of `histograms`, labelled by `labels`; with `always` false a
 * series appears only once it has seen a value (a stage, an endpoint that happened).
 */
export function seriesSamples (name: string, histograms: Histograms, labels: (series: number) => Record<string, string>, always: boolean, into: Sample[]): void {
  for (let series = 0; series < histograms.sums.length; series++) {
    if (!always && histograms.total(series) === 0) continue
    histogramSamples(name, labels(series), histograms.bounds, histograms.countsOf(series), histograms.sums[series]!, into)
  }
}

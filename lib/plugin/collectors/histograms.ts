import type { Histograms } from '../../tracker/buckets.js'
import type { HistogramLabels } from './reused-labels.js'
import type { Sample } from './scrape-time-metric.js'

/** The names of a histogram family's samples. */
export interface HistogramNames {
  bucket: string
  sum: string
  count: string
}

/**
 * The sample names of histogram family `name`, built once: a scrape then writes the same
 * strings, and a family's unchanged text is recognised by identity (text-format.ts).
 */
export function histogramNames (name: string): HistogramNames {
  return { bucket: `${name}_bucket`, sum: `${name}_sum`, count: `${name}_count` }
}

/** The samples of one histogram series from its non-cumulative bucket counts (the last one above every bound). */
export function histogramSamples (names: HistogramNames, labels: HistogramLabels, counts: ArrayLike<number>, sum: number, into: Sample[]): void {
  let cumulative = 0
  for (let index = 0; index < labels.buckets.length; index++) {
    cumulative += counts[index]!
    into.push({ metricName: names.bucket, labels: labels.buckets[index]!, value: cumulative })
  }
  into.push({ metricName: names.sum, labels: labels.series, value: sum }, { metricName: names.count, labels: labels.series, value: cumulative })
}

/** The samples of every series of `histograms` that exists (a lazy one's, once made: a stage, an endpoint that happened), labelled by `labels`. */
export function seriesSamples (names: HistogramNames, histograms: Histograms, labels: (series: number) => HistogramLabels, into: Sample[]): void {
  for (let series = 0; series < histograms.sums.length; series++) {
    if (histograms.exists[series] === 0) continue
    histogramSamples(names, labels(series), histograms.countsOf(series), histograms.sums[series]!, into)
  }
}

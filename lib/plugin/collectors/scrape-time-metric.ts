import type { Aggregator, Metric, Registry } from 'prom-client'
import { FamilyText } from '../text-format.js'

export type MetricKind = 'counter' | 'gauge' | 'histogram'

export interface Sample {
  labels: Record<string, string | number>
  value: number
  /** For histograms: the `_bucket`, `_sum` or `_count` series of the family. */
  metricName?: string
}

/**
 * Starts what a collector keeps running between scrapes (a timer, an observer) and returns
 * what stops it. Registration hands one back instead of starting it, so that a registration
 * refused halfway leaves nothing running.
 */
export type Sampler = () => () => void

export interface MetricFamily {
  name: string
  help: string
  type: MetricKind
  /** How prom-client's AggregatorRegistry merges the workers' values (node:cluster); default `sum`. */
  aggregator?: Aggregator
  /** Reads the family's source now; called once per scrape. */
  read: () => Sample[] | Promise<Sample[]>
}

/**
 * A metric family whose samples are computed when the registry is scraped, from state
 * owned elsewhere (the way a Go `prometheus.Collector` works). It speaks the interface
 * prom-client's Registry renders, and writes its own text the same way, faster (see
 * text-format.ts): the metrics route uses that.
 */
export class ScrapeTimeMetric {
  readonly name: string
  readonly help: string
  readonly type: MetricKind
  readonly aggregator: Aggregator
  readonly #read: MetricFamily['read']
  readonly #text: FamilyText

  constructor (family: MetricFamily) {
    this.name = family.name
    this.help = family.help
    this.type = family.type
    this.aggregator = family.aggregator ?? 'sum'
    this.#read = family.read
    this.#text = new FamilyText(family.name, family.help, family.type)
  }

  /** The family's exposition text, as prom-client's Registry would write it; at once for a family read synchronously. */
  exposition (openMetrics: boolean, defaultLabels: Record<string, string | number> | undefined): string | Promise<string> {
    const samples = this.#read()
    return Array.isArray(samples)
      ? this.#text.format(samples, openMetrics, defaultLabels)
      : samples.then((read) => this.#text.format(read, openMetrics, defaultLabels))
  }

  /**
   * The family as prom-client reads it, for registry.metrics(), getMetricsAsJSON() and node:cluster.
   * Label objects are shared across scrapes, their text cached (text-format.ts): whoever gets
   * them here gets copies, free to change without changing later scrapes.
   */
  async get (): Promise<{ name: string, help: string, type: MetricKind, aggregator: Aggregator, values: Sample[] }> {
    const values = (await this.#read()).map((sample) => ({ ...sample, labels: { ...sample.labels } }))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** The values live in their source; there is nothing here to reset. */
  reset (): void {}
}

export function registerFamily (registry: Registry, family: MetricFamily): void {
  // prom-client types registerMetric for its own classes only; it reads name, help, type and get().
  registry.registerMetric(new ScrapeTimeMetric(family) as unknown as Metric)
}

/**
 * `read` at most once per scrape: families registered together share one reading (one
 * `/proc` file, one `process.cpuUsage()`). The registry asks every family in one synchronous
 * pass, so the reading is dropped when that pass is over.
 */
export function oncePerScrape<T> (read: () => T): () => T {
  let cached: { value: T } | undefined
  return () => {
    if (cached === undefined) {
      cached = { value: read() }
      queueMicrotask(() => { cached = undefined })
    }
    return cached.value
  }
}

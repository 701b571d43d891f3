import type { Registry } from 'prom-client'
import type { Rename } from '../naming.js'
import { NO_LABELS, reusedLabels } from '../text-format.js'
import { registerFamily } from './scrape-time-metric.js'

/** The status codes the metrics route answers with; each is present at zero before it happens. */
const CODES = [200, 500, 503] as const
export type ScrapeCode = typeof CODES[number]
const CODE_LABELS = new Map(CODES.map((code) => [code, reusedLabels({ code })]))

/** How the metrics route has answered, kept as plain numbers and exported at scrape time. */
export class ScrapeStats {
  inFlight = 0
  readonly #byCode = new Map<ScrapeCode, number>(CODES.map((code) => [code, 0]))

  count (code: ScrapeCode): void {
    this.#byCode.set(code, this.#byCode.get(code)! + 1)
  }

  byCode (): ReadonlyMap<ScrapeCode, number> {
    return this.#byCode
  }
}

export function registerScrapeMetrics (registry: Registry, stats: ScrapeStats, rename: Rename): void {
  registerFamily(registry, {
    name: rename('runner_metrics_scrapes_total'),
    help: 'Responses of the metrics endpoint, by HTTP status code.',
    type: 'counter',
    read: () => Array.from(stats.byCode(), ([code, value]) => ({ labels: CODE_LABELS.get(code)!, value }))
  })
  registerFamily(registry, {
    name: rename('runner_metrics_scrapes_in_flight'),
    help: 'Scrapes of the metrics endpoint being served now.',
    type: 'gauge',
    read: () => [{ labels: NO_LABELS, value: stats.inFlight }]
  })
}

import type { Registry } from 'prom-client'
import { API_ENDPOINTS } from '../../tracker/vocabulary.js'
import { apiRequestKey, type BuildTracker, type RunnerStats } from '../../tracker/build-tracker.js'
import type { Rename } from '../naming.js'
import { reusedLabels } from '../text-format.js'
import { histogramNames, seriesSamples } from './histograms.js'
import { ReusedLabels, histogramLabels, runnerLabels } from './reused-labels.js'
import { registerFamily, type Sample } from './scrape-time-metric.js'

/** One sample per runner: every runner, configured or seen, at zero before anything happens. */
function perRunner (tracker: BuildTracker, value: (runner: RunnerStats) => number): () => Sample[] {
  return () => Array.from(tracker.runners(), (runner) => ({ labels: runnerLabels(runner), value: value(runner) }))
}

/**
 * The manager's requests to GitLab: API requests by endpoint and status (a series appears once
 * that pair happened: statuses are not known in advance), and job requests against `request_concurrency`.
 */
export function registerRequestMetrics (registry: Registry, tracker: BuildTracker, rename: Rename): void {
  const requestLabels = new ReusedLabels((runner: RunnerStats, key: number) => reusedLabels({ runner: runner.name, ...apiRequestKey(key) }))
  registerFamily(registry, {
    name: rename('runner_api_requests_total'),
    help: 'Requests of the runner manager to GitLab\'s API, by runner, endpoint and HTTP status.',
    type: 'counter',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) {
        for (const [key, value] of runner.apiRequests) samples.push({ labels: requestLabels.get(runner, key), value })
      }
      return samples
    }
  })
  const durationName = rename('runner_api_request_duration_seconds')
  const durationNames = histogramNames(durationName)
  const durationLabels = new ReusedLabels((runner: RunnerStats, endpoint: number) => histogramLabels({ runner: runner.name, endpoint: API_ENDPOINTS[endpoint]! }, runner.apiDurations.bounds))
  registerFamily(registry, {
    name: durationName,
    help: 'Duration of requests to GitLab\'s API, by runner and endpoint.',
    type: 'histogram',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) {
        seriesSamples(durationNames, runner.apiDurations, (endpoint) => durationLabels.get(runner, endpoint), samples)
      }
      return samples
    }
  })
  registerFamily(registry, {
    name: rename('runner_request_concurrency'),
    help: 'Requests for a new job in flight now, by runner.',
    type: 'gauge',
    read: perRunner(tracker, (runner) => runner.jobRequests)
  })
  registerFamily(registry, {
    name: rename('runner_request_concurrency_exceeded_total'),
    help: 'Requests for a new job refused because the runner had request_concurrency requests in flight, by runner.',
    type: 'counter',
    read: perRunner(tracker, (runner) => runner.jobRequestsRefused)
  })
}

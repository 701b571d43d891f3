import type { Registry } from 'prom-client'
import { FAILURE_REASONS, FINAL_STATES, IGNORED_EVENTS, REFUSED_SERIES, type RefusedSeries } from '../../tracker/vocabulary.js'
import type { Histograms } from '../../tracker/buckets.js'
import type { BuildTracker, RunnerStats } from '../../tracker/build-tracker.js'
import type { Rename } from '../naming.js'
import { NO_LABELS, reusedLabels } from '../text-format.js'
import { histogramNames, seriesSamples } from './histograms.js'
import { ReusedLabels, histogramLabels, runnerLabels, type HistogramLabels } from './reused-labels.js'
import { registerFamily, type Sample } from './scrape-time-metric.js'

const EVENT_LABELS = IGNORED_EVENTS.map((event) => reusedLabels({ event }))
/** The `family` of each kind of refusal: the refused series' family (renamed with the rest), or `runner` for a runner. */
const REFUSED_FAMILIES: Readonly<Record<RefusedSeries, string | undefined>> = {
  runner: undefined,
  build_stage_duration: 'runner_build_stage_duration_seconds',
  api_requests: 'runner_api_requests_total',
  api_request_duration: 'runner_api_request_duration_seconds'
}

/** One sample per runner per value of `label`, every runner at zero before its first build. */
function perRunner (tracker: BuildTracker, label: string, values: readonly string[], counts: (runner: RunnerStats) => Float64Array): () => Sample[] {
  const labels = new ReusedLabels((runner: RunnerStats, index: number) => reusedLabels({ runner: runner.name, [label]: values[index]! }))
  return () => {
    const samples: Sample[] = []
    for (const runner of tracker.runners()) {
      const series = counts(runner)
      for (let index = 0; index < values.length; index++) samples.push({ labels: labels.get(runner, index), value: series[index]! })
    }
    return samples
  }
}

/** A per-runner histogram family: `perStage` splits it by stage, each stage appearing once observed (and admitted by the output budget). */
function registerRunnerHistogram (registry: Registry, tracker: BuildTracker, name: string, help: string, histograms: (runner: RunnerStats) => Histograms, perStage = false): void {
  const names = histogramNames(name)
  const labels = new ReusedLabels((runner: RunnerStats, stage: number): HistogramLabels => {
    const series: Record<string, string> = perStage ? { runner: runner.name, stage: tracker.stages[stage]! } : { runner: runner.name }
    return histogramLabels(series, histograms(runner).bounds)
  })
  registerFamily(registry, {
    name,
    help,
    type: 'histogram',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) seriesSamples(names, histograms(runner), (stage) => labels.get(runner, stage), samples)
      return samples
    }
  })
}

/** Starts, outcomes, failure reasons, durations, queue and stage times, the configured capacity, and what the tracker ignored or refused, all read from it. */
export function registerLifecycleMetrics (registry: Registry, tracker: BuildTracker, rename: Rename): void {
  registerFamily(registry, {
    name: rename('runner_builds_started_total'),
    help: 'Builds started, by runner.',
    type: 'counter',
    read: () => Array.from(tracker.runners(), (runner) => ({ labels: runnerLabels(runner), value: runner.started }))
  })
  registerFamily(registry, {
    name: rename('runner_builds_finished_total'),
    help: 'Builds finished, by runner and final state.',
    type: 'counter',
    read: perRunner(tracker, 'state', FINAL_STATES, (runner) => runner.finished)
  })
  registerFamily(registry, {
    name: rename('runner_build_failures_total'),
    help: 'Failed builds, by runner and failure reason.',
    type: 'counter',
    read: perRunner(tracker, 'failure_reason', FAILURE_REASONS, (runner) => runner.failures)
  })
  registerRunnerHistogram(registry, tracker, rename('runner_build_duration_seconds'), 'Build duration from start to finish, by runner.', (runner) => runner.duration)
  registerRunnerHistogram(registry, tracker, rename('runner_build_queue_duration_seconds'), 'Time builds waited in GitLab\'s queue before their runner took them, by runner.', (runner) => runner.queue)
  registerRunnerHistogram(registry, tracker, rename('runner_build_stage_duration_seconds'), 'Time a build spent in a stage, observed when it leaves the stage, by runner and stage.', (runner) => runner.stages, true)
  registerFamily(registry, {
    name: rename('runner_concurrent'),
    help: 'The global concurrent setting: the most builds all runners may run at once.',
    type: 'gauge',
    aggregator: 'first',
    read: () => tracker.concurrent === undefined ? [] : [{ labels: NO_LABELS, value: tracker.concurrent }]
  })
  registerFamily(registry, {
    name: rename('runner_limit'),
    help: 'The limit setting of each runner: the most builds it may run at once.',
    type: 'gauge',
    aggregator: 'first',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) {
        if (runner.limit !== undefined) samples.push({ labels: runnerLabels(runner), value: runner.limit })
      }
      return samples
    }
  })
  registerFamily(registry, {
    name: rename('runner_build_events_ignored_total'),
    help: 'Tracker events ignored because they misused a finished build or an ended job request, by event.',
    type: 'counter',
    read: () => {
      const ignored = tracker.ignoredEvents()
      return IGNORED_EVENTS.map((event, index) => ({ labels: EVENT_LABELS[index]!, value: ignored[event] }))
    }
  })
  const refusedLabels = REFUSED_SERIES.map((kind) => {
    const family = REFUSED_FAMILIES[kind]
    return reusedLabels({ family: family === undefined ? 'runner' : rename(family) })
  })
  registerFamily(registry, {
    name: rename('runner_series_refused_total'),
    help: 'Observations dropped because their new series did not fit the tracker\'s output budget, by the series\' family; family "runner": events refused because their new runner did not fit (or exceeded maxRunners).',
    type: 'counter',
    read: () => {
      const refused = tracker.refusedSeries()
      return REFUSED_SERIES.map((kind, index) => ({ labels: refusedLabels[index]!, value: refused[kind] }))
    }
  })
}

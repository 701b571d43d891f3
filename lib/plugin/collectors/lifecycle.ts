import type { Registry } from 'prom-client'
import { DURATION_BUCKETS, FAILURE_REASONS, FINAL_STATES, IGNORED_EVENTS } from '../../tracker/vocabulary.js'
import type { BuildTracker, RunnerStats } from '../../tracker/build-tracker.js'
import { histogramSamples, registerFamily, type Sample } from './scrape-time-metric.js'

/** One sample per runner per value of `label`, every runner at zero before its first build. */
function perRunner (tracker: BuildTracker, label: string, values: readonly string[], counts: (runner: RunnerStats) => Float64Array): () => Sample[] {
  return () => {
    const samples: Sample[] = []
    for (const runner of tracker.runners()) {
      const series = counts(runner)
      values.forEach((value, index) => samples.push({ labels: { runner: runner.name, [label]: value }, value: series[index]! }))
    }
    return samples
  }
}

/** Starts, outcomes, failure reasons, durations and the configured capacity, all read from the tracker. */
export function registerLifecycleMetrics (registry: Registry, tracker: BuildTracker): void {
  registerFamily(registry, {
    name: 'runner_builds_started_total',
    help: 'Builds started, by runner.',
    type: 'counter',
    read: () => Array.from(tracker.runners(), (runner) => ({ labels: { runner: runner.name }, value: runner.started }))
  })
  registerFamily(registry, {
    name: 'runner_builds_finished_total',
    help: 'Builds finished, by runner and final state.',
    type: 'counter',
    read: perRunner(tracker, 'state', FINAL_STATES, (runner) => runner.finished)
  })
  registerFamily(registry, {
    name: 'runner_build_failures_total',
    help: 'Failed builds, by runner and failure reason.',
    type: 'counter',
    read: perRunner(tracker, 'failure_reason', FAILURE_REASONS, (runner) => runner.failures)
  })
  registerFamily(registry, {
    name: 'runner_build_duration_seconds',
    help: 'Build duration from start to finish, by runner.',
    type: 'histogram',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) histogramSamples('runner_build_duration_seconds', { runner: runner.name }, DURATION_BUCKETS, runner.durationBuckets, runner.durationSum, samples)
      return samples
    }
  })
  registerFamily(registry, {
    name: 'runner_concurrent',
    help: 'The global concurrent setting: the most builds all runners may run at once.',
    type: 'gauge',
    aggregator: 'first',
    read: () => tracker.concurrent === undefined ? [] : [{ labels: {}, value: tracker.concurrent }]
  })
  registerFamily(registry, {
    name: 'runner_limit',
    help: 'The limit setting of each runner: the most builds it may run at once.',
    type: 'gauge',
    aggregator: 'first',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) {
        if (runner.limit !== undefined) samples.push({ labels: { runner: runner.name }, value: runner.limit })
      }
      return samples
    }
  })
  registerFamily(registry, {
    name: 'runner_build_events_ignored_total',
    help: 'Build events ignored because they misused a finished build, by event.',
    type: 'counter',
    read: () => {
      const ignored = tracker.ignoredEvents()
      return IGNORED_EVENTS.map((event) => ({ labels: { event }, value: ignored[event] }))
    }
  })
}

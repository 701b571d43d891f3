import type { Registry } from 'prom-client'
import { LIVE_STATES } from '../../tracker/vocabulary.js'
import type { BuildTracker, RunnerStats } from '../../tracker/build-tracker.js'
import type { Rename } from '../naming.js'
import { reusedLabels } from '../text-format.js'
import { ReusedLabels } from './reused-labels.js'
import { registerFamily, type Sample } from './scrape-time-metric.js'

/**
 * `runner_builds`: live builds per (runner, state, stage), read from the tracker's counts.
 * A series stays, at zero, once it has held a build, so a graph drops to 0 instead of going stale.
 */
export function registerBuildsMetric (registry: Registry, tracker: BuildTracker, rename: Rename): void {
  const stageSlots = tracker.stageSlots
  const labels = new ReusedLabels((runner: RunnerStats, slot: number) => reusedLabels({
    runner: runner.name,
    state: LIVE_STATES[Math.floor(slot / stageSlots)]!,
    stage: tracker.stageName(slot % stageSlots)
  }))
  registerFamily(registry, {
    name: rename('runner_builds'),
    help: 'Builds running now, by runner, state and stage.',
    type: 'gauge',
    read: () => {
      const samples: Sample[] = []
      for (const runner of tracker.runners()) {
        for (let slot = 0; slot < runner.live.length; slot++) {
          if (runner.seen[slot] !== 0) samples.push({ labels: labels.get(runner, slot), value: runner.live[slot]! })
        }
      }
      return samples
    }
  })
}

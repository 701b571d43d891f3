import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { promClient } from '../lib/index.js'
import { parseSamples, samplesOf, series } from './helpers.js'

const WORKERS = 2

t.test('node:cluster workers aggregated by prom-client\'s AggregatorRegistry: each family merged as it means', { timeout: 120_000 }, async (t) => {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./cluster-worker.ts', import.meta.url)), silent: false })
  const workers: Worker[] = []
  t.teardown(async () => {
    await Promise.all(workers.filter((worker) => !worker.isDead()).map(async (worker) => {
      const exited = once(worker, 'exit')
      worker.kill()
      await exited
    }))
  })
  for (let i = 0; i < WORKERS; i++) workers.push(cluster.fork())
  await Promise.all(workers.map(async (worker) => {
    const [message] = await once(worker, 'message') as [unknown]
    t.same(message, { ready: true })
  }))

  const samples = parseSamples(await new promClient.AggregatorRegistry().clusterMetrics())
  // Counts add up across workers.
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'docker-1' })), 2 * WORKERS)
  t.equal(samples.get(series('runner_build_failures_total', { runner: 'docker-1', failure_reason: 'script_failure' })), WORKERS)
  t.equal(samples.get(series('runner_builds', { runner: 'docker-1', state: 'running', stage: 'step_script' })), WORKERS)
  t.equal(samples.get(series('runner_build_duration_seconds_count', { runner: 'docker-1' })), WORKERS)
  // Settings and build information are the same in every worker: the first one's, not a sum.
  t.equal(samples.get('runner_concurrent'), 8)
  t.equal(samples.get(series('runner_limit', { runner: 'docker-1' })), 4)
  const versions = [...samplesOf(samples, 'runner_version_info').values()]
  t.same(versions, [1])
  t.same([...samplesOf(samples, 'nodejs_version_info').values()], [1])
  // Start times of different processes have no sum: left out, as prom-client does.
  t.equal(samplesOf(samples, 'process_start_time_seconds').size, 0)
  // Event-loop lag: the extremes stay extremes.
  t.ok(samples.has('nodejs_eventloop_lag_max_seconds'))
  t.ok(samples.get('process_resident_memory_bytes')! > 0)
})

// An ES module app: the plugin under a prefix, the server entry beside it.
import Fastify from 'fastify'
import runnerMetrics, { BuildTracker, promClient, runnerMetrics as named } from 'fastify-runner-metrics'
import { loadConfig, startMetricsServer } from 'fastify-runner-metrics/server'

const app = Fastify()
await app.register(runnerMetrics, { prefix: '/ops', runners: [{ name: 'docker-1' }] })
app.builds.start({ id: '1', runner: 'docker-1' })
const response = await app.inject('/ops/metrics')
console.log(JSON.stringify({
  status: response.statusCode,
  builds: response.body.includes('runner_builds{runner="docker-1",state="pending",stage="none"} 1'),
  named: named === runnerMetrics,
  tracker: app.builds instanceof BuildTracker,
  registry: app.runnerRegistry instanceof promClient.Registry,
  server: [typeof startMetricsServer, typeof loadConfig]
}))
await app.close()

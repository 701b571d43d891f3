// fastify-metrics (HTTP route metrics) beside fastify-runner-metrics (the runner manager's
// metrics), in the two shapes an app can choose. test/consumers/ type-checks this file with
// skipLibCheck: false against the packed package and runs it.
import Fastify, { type FastifyInstance } from 'fastify'
import fastifyMetricsModule from 'fastify-metrics'
import runnerMetrics, { promClient } from 'fastify-runner-metrics'

// fastify-metrics is CommonJS with `exports.default`: from an ES module its plugin is `.default`.
const fastifyMetrics = fastifyMetricsModule.default

/** Side by side: two endpoints, two scrape jobs. Runtime metrics come from this plugin only. */
export async function sideBySide (): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(fastifyMetrics, { endpoint: '/http/metrics', defaultMetrics: { enabled: false } })
  await app.register(runnerMetrics, { endpoint: '/metrics' })
  app.get('/hello', async () => 'hello')
  return app
}

/**
 * One registry, one endpoint: fastify-metrics records into this plugin's registry, with the
 * same prom-client (`promClient`) so the registry accepts its metrics, and serves nothing itself.
 */
export async function oneRegistry (): Promise<FastifyInstance> {
  const registry = new promClient.Registry()
  const app = Fastify()
  await app.register(fastifyMetrics, {
    promClient,
    endpoint: null,
    defaultMetrics: { enabled: false },
    routeMetrics: { overrides: { histogram: { registers: [registry] }, summary: { registers: [registry] } } }
  })
  await app.register(runnerMetrics, { registry })
  app.get('/hello', async () => 'hello')
  return app
}

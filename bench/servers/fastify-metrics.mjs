// (b) fastify-metrics with its defaults: prom-client's global registry, default metrics,
// and its route histogram and summary (which observe the scrapes themselves).
import Fastify from 'fastify'
import fastifyMetricsModule from 'fastify-metrics'
import { announce, fail } from './announce.mjs'

const fastifyMetrics = fastifyMetricsModule.default ?? fastifyMetricsModule

try {
  const app = Fastify()
  await app.register(fastifyMetrics)
  await app.listen({ host: '127.0.0.1', port: 0 })
  announce(app.server.address().port)
} catch (error) {
  fail(error)
}

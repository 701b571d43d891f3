// (a) this project: Fastify with the fastify-runner-metrics plugin, default metrics on.
import Fastify from 'fastify'
import runnerMetrics from 'fastify-runner-metrics'
import { announce, fail } from './announce.mjs'

try {
  const app = Fastify()
  await app.register(runnerMetrics, { runners: [{ name: 'docker-1', limit: 4 }], concurrent: 4, maxScrapesInFlight: 0 })
  await app.listen({ host: '127.0.0.1', port: 0 })
  announce(app.server.address().port)
} catch (error) {
  fail(error)
}

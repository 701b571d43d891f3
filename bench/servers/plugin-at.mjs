// (a) from another build: the plugin's entry module at a given path (say, dist/ of another
// revision), with the same options as servers/plugin.mjs; `nodefault` turns default metrics off.
// usage: node bench/servers/plugin-at.mjs /abs/path/to/dist/index.js [nodefault]
import Fastify from 'fastify'
import { announce, fail } from './announce.mjs'

try {
  const { default: runnerMetrics } = await import(process.argv[2])
  const app = Fastify()
  await app.register(runnerMetrics, { runners: [{ name: 'docker-1', limit: 4 }], concurrent: 4, maxScrapesInFlight: 0, defaultMetrics: process.argv[3] !== 'nodefault' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  announce(app.server.address().port)
} catch (error) {
  fail(error)
}

// The app alone: Fastify with one route and no metrics, the base the idle row subtracts.
import Fastify from 'fastify'
import { announce, fail } from './announce.mjs'

try {
  const app = Fastify()
  app.get('/metrics', async () => 'no metrics here\n')
  await app.listen({ host: '127.0.0.1', port: 0 })
  announce(app.server.address().port)
} catch (error) {
  fail(error)
}

// (c) bare prom-client: collectDefaultMetrics on a private registry, served by node:http.
import { createServer } from 'node:http'
import { Registry, collectDefaultMetrics } from 'prom-client'
import { announce, fail } from './announce.mjs'

const register = new Registry()
collectDefaultMetrics({ register })

const server = createServer((request, response) => {
  register.metrics().then((body) => {
    response.writeHead(200, { 'content-type': register.contentType })
    response.end(body)
  }, (error) => {
    response.writeHead(500, { 'content-type': 'text/plain' })
    response.end(String(error))
  })
})
server.on('error', fail)
server.listen(0, '127.0.0.1', () => announce(server.address().port))

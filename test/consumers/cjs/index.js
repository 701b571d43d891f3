// A CommonJS app: require() of both entries (Node's require(esm)).
const Fastify = require('fastify')
const runnerMetrics = require('fastify-runner-metrics')
const { loadConfig, startMetricsServer } = require('fastify-runner-metrics/server')

async function main () {
  const app = Fastify()
  // Fastify takes the module's default export, as it does for a transpiled plugin.
  await app.register(runnerMetrics, { endpoint: '/m' })
  const named = Fastify()
  await named.register(runnerMetrics.runnerMetrics)
  app.builds.start({ id: '1', runner: 'shell' })
  const response = await app.inject('/m')
  console.log(JSON.stringify({
    status: response.statusCode,
    builds: response.body.includes('runner_builds{runner="shell",state="pending",stage="none"} 1'),
    named: (await named.inject('/metrics')).statusCode,
    tracker: app.builds instanceof runnerMetrics.BuildTracker,
    server: [typeof startMetricsServer, typeof loadConfig]
  }))
  await app.close()
  await named.close()
}
main().catch((error) => { console.error(error); process.exitCode = 1 })

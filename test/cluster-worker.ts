// A node:cluster worker of test/cluster.test.ts: a runner manager process with the plugin,
// whose registry the primary's AggregatorRegistry collects.
import Fastify from 'fastify'
import runnerMetrics, { promClient } from '../lib/index.js'

const app = Fastify()
await app.register(runnerMetrics, { concurrent: 8, runners: [{ name: 'docker-1', limit: 4 }], version: { version: '1.2.3' } })
// What a worker needs: prom-client answers the primary's requests once an AggregatorRegistry
// exists in the worker, with the registries given to setRegistries.
const aggregator = new promClient.AggregatorRegistry()
promClient.AggregatorRegistry.setRegistries([app.runnerRegistry])
app.builds.start({ id: 'running', runner: 'docker-1' }).setStage('step_script')
app.builds.start({ id: 'failed', runner: 'docker-1' }).finish({ state: 'failed', failureReason: 'script_failure' })
process.send!({ ready: aggregator instanceof promClient.Registry })

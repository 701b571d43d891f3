// A TypeScript app; compiled to CommonJS (this folder) its imports become require() calls, and
// the consumer test builds it as an ES module app too.
import Fastify from 'fastify'
import runnerMetrics, { BuildTracker, type RunnerMetricsOptions } from 'fastify-runner-metrics'
import { startMetricsServer, type RunnerManagerConfig } from 'fastify-runner-metrics/server'

async function main (): Promise<void> {
  const app = Fastify()
  const options: RunnerMetricsOptions = { endpoint: { url: '/m', logLevel: 'warn' }, concurrent: 4 }
  await app.register(runnerMetrics, options)
  const build = app.builds.start({ id: '1', runner: 'docker-1' })
  build.setStage('step_script')
  build.finish({ state: 'failed', failureReason: 'script_failure' })
  const config: Partial<RunnerManagerConfig> = {}
  const response = await app.inject('/m')
  console.log(JSON.stringify({
    status: response.statusCode,
    failures: response.body.includes('runner_build_failures_total{runner="docker-1",failure_reason="script_failure"} 1'),
    tracker: app.builds instanceof BuildTracker,
    registry: (await app.runnerRegistry.getMetricsAsJSON()).length > 0,
    server: [typeof startMetricsServer, typeof config]
  }))
  await app.close()
}
main().catch((error: unknown) => { console.error(error); process.exitCode = 1 })

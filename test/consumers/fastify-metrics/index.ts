// Both plugins in one app, in both shapes of examples/with-fastify-metrics.ts (copied beside this file).
import { oneRegistry, sideBySide } from './with-fastify-metrics.js'

const apart = await sideBySide()
await apart.inject('/hello')
const http = await apart.inject('/http/metrics')
const runner = await apart.inject('/metrics')

const together = await oneRegistry()
await together.inject('/hello')
const both = await together.inject('/metrics')

console.log(JSON.stringify({
  decorators: [typeof apart.metrics.client, typeof apart.runnerRegistry.metrics, typeof apart.builds.start],
  apart: {
    http: [http.statusCode, http.body.includes('http_request_duration_seconds_count{method="GET",route="/hello",status_code="200"} 1')],
    runner: [runner.statusCode, runner.body.includes('runner_builds_started_total'), runner.body.includes('http_request_duration_seconds')]
  },
  together: [both.statusCode, both.body.includes('runner_builds_started_total'), both.body.includes('http_request_duration_seconds_count{method="GET",route="/hello",status_code="200"} 1')]
}))
await apart.close()
await together.close()

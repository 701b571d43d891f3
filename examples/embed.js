// A runner manager embedding the metrics server: it feeds the tracker as builds happen.
// Run: npm run build && node examples/embed.js   (then curl http://127.0.0.1:9252/metrics)
import { startMetricsServer } from 'fastify-runner-metrics/server'

const server = await startMetricsServer({ configFile: new URL('../config.example.toml', import.meta.url).pathname })
const { tracker } = server

// What a runner manager does around each job it runs.
const done = tracker.start({ id: 1041, runner: 'docker-1' })
done.setStage('get_sources')
done.setStage('step_script')
done.finish({ state: 'failed', failureReason: 'script_failure' })

const running = tracker.start({ id: 1042, runner: 'docker-1' })
running.setStage('prepare_executor')
running.setStage('step_script')

tracker.start({ id: 1043, runner: 'shell-1' })

process.on('SIGHUP', () => server.reload())
process.once('SIGTERM', () => server.close())
process.once('SIGINT', () => server.close())

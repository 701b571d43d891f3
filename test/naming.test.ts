import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import pino from 'pino'
import { BuildTracker, STAGE_BUCKETS, QUEUE_BUCKETS, type Naming } from '../lib/index.js'
import { startMetricsServer } from '../lib/server/index.js'
import { GITLAB_RUNNER_NAMES, metricName } from '../lib/plugin/naming.js'
import { appWith, samplesOf, scrape, series, type Samples } from './helpers.js'
import { runServer } from './spawn-server.js'

function clock (): { now: () => number, advance: (seconds: number) => void } {
  let time = 0
  return { now: () => time, advance: (seconds) => { time += seconds } }
}

/** One build through three stages, API requests and job requests, on a tracker with an exact clock. */
function feed (t: Test, tracker: BuildTracker, time: ReturnType<typeof clock>): void {
  const build = tracker.start({ id: 1042, runner: 'docker-1', queueSeconds: 45, url: 'https://gitlab.example.com/g/p/-/jobs/1042' })
  time.advance(2)
  build.setStage('prepare_executor')
  time.advance(5)
  build.setStage('get_sources')
  time.advance(2)
  build.setStage('step_script')
  time.advance(100)
  build.finish({ state: 'failed', failureReason: 'script_failure' })
  tracker.start({ id: 1043, runner: 'docker-1' }).finish({ state: 'terminated' })
  tracker.apiRequest({ runner: 'docker-1', endpoint: 'request_job', status: 201, seconds: 0.2 })
  tracker.apiRequest({ runner: 'docker-1', endpoint: 'request_job', status: 204, seconds: 0.3 })
  tracker.apiRequest({ runner: 'docker-1', endpoint: 'update_job', status: 500, seconds: 2 })
  const held = tracker.requestJob('docker-1')!
  t.equal(tracker.requestJob('docker-1'), undefined)
  t.equal(tracker.requestJob('docker-1'), undefined)
  const other = tracker.requestJob('idle')!
  other.done()
  other.done()
  t.ok(held)
}

/** What the fed tracker must show, under the names of `naming`. */
function expectExact (t: Test, samples: Samples, naming: Naming): void {
  const name = (family: string): string => metricName(family, naming)
  const runner = 'docker-1'
  t.equal(samples.get(series(name('runner_builds_started_total'), { runner })), 2)
  t.equal(samples.get(series(name('runner_builds_finished_total'), { runner, state: 'failed' })), 1)
  t.equal(samples.get(series(name('runner_builds_finished_total'), { runner, state: 'terminated' })), 1)
  t.equal(samples.get(series(name('runner_build_failures_total'), { runner, failure_reason: 'script_failure' })), 1)
  t.equal(samples.get(series(name('runner_builds'), { runner, state: 'running', stage: 'step_script' })), 0)
  t.equal(samples.get(series(`${name('runner_build_duration_seconds')}_sum`, { runner })), 109)
  t.equal(samples.get(series(`${name('runner_build_queue_duration_seconds')}_count`, { runner })), 1, 'only builds started with queueSeconds')
  t.equal(samples.get(series(`${name('runner_build_queue_duration_seconds')}_sum`, { runner })), 45)
  t.equal(samples.get(series(`${name('runner_build_queue_duration_seconds')}_bucket`, { runner, le: 30 })), 0)
  t.equal(samples.get(series(`${name('runner_build_queue_duration_seconds')}_bucket`, { runner, le: 60 })), 1)
  const stage = name('runner_build_stage_duration_seconds')
  for (const [stageName, seconds] of [['prepare_executor', 5], ['get_sources', 2], ['step_script', 100]] as const) {
    t.equal(samples.get(series(`${stage}_sum`, { runner, stage: stageName })), seconds, stageName)
    t.equal(samples.get(series(`${stage}_count`, { runner, stage: stageName })), 1, stageName)
  }
  t.equal(samples.get(series(`${stage}_bucket`, { runner, stage: 'step_script', le: 60 })), 0)
  t.equal(samples.get(series(`${stage}_bucket`, { runner, stage: 'step_script', le: 120 })), 1)
  t.equal(samplesOf(samples, `${stage}_count`).size, 3, 'a stage series appears once a build left that stage')
  const requests = name('runner_api_requests_total')
  t.equal(samples.get(series(requests, { runner, endpoint: 'request_job', status: 201 })), 1)
  t.equal(samples.get(series(requests, { runner, endpoint: 'request_job', status: 204 })), 1)
  t.equal(samples.get(series(requests, { runner, endpoint: 'update_job', status: 500 })), 1)
  t.equal(samplesOf(samples, requests).size, 3)
  const apiDuration = name('runner_api_request_duration_seconds')
  t.equal(samples.get(series(`${apiDuration}_count`, { runner, endpoint: 'request_job' })), 2)
  t.equal(samples.get(series(`${apiDuration}_sum`, { runner, endpoint: 'request_job' })), 0.5)
  t.equal(samples.get(series(`${apiDuration}_bucket`, { runner, endpoint: 'update_job', le: 2.5 })), 1)
  t.equal(samples.get(series(`${apiDuration}_bucket`, { runner, endpoint: 'update_job', le: 1 })), 0)
  t.equal(samples.get(series(name('runner_request_concurrency'), { runner })), 1)
  t.equal(samples.get(series(name('runner_request_concurrency'), { runner: 'idle' })), 0, 'done twice: never negative')
  t.equal(samples.get(series(name('runner_request_concurrency_exceeded_total'), { runner })), 2)
  t.equal(samples.get(series(name('runner_build_events_ignored_total'), { event: 'job_request_done_twice' })), 1)
  t.equal(samples.get(series(name('runner_limit'), { runner })), 4)
  t.equal(samples.get(name('runner_concurrent')), 3)
}

for (const naming of ['runner', 'gitlab-runner'] as const) {
  t.test(`a build, API requests and job requests show exact values with naming ${naming}`, async (t) => {
    const time = clock()
    const tracker = new BuildTracker({ now: time.now, runners: [{ name: 'docker-1', limit: 4 }, { name: 'idle' }], concurrent: 3 })
    const app = await appWith({ tracker, naming })
    t.teardown(() => app.close())
    feed(t, tracker, time)
    const samples = await scrape(app)
    expectExact(t, samples, naming)
    const other = naming === 'runner' ? 'gitlab_runner_' : 'runner_'
    t.same([...samples.keys()].filter((key) => key.startsWith(other)), [], `no ${other} family beside them`)
    const body = (await app.inject('/metrics')).body
    t.notMatch(body, /gitlab\.example\.com/, 'the job URL never reaches /metrics')
  })
}

t.test('GitLab Runner\'s names are the contract\'s; every other runner_ family takes the gitlab_runner_ prefix', async (t) => {
  t.equal(metricName('runner_builds', 'gitlab-runner'), 'gitlab_runner_jobs')
  t.equal(metricName('runner_builds_started_total', 'gitlab-runner'), 'gitlab_runner_jobs_total')
  t.equal(metricName('runner_api_requests_total', 'gitlab-runner'), 'gitlab_runner_api_request_statuses_total')
  t.equal(metricName('runner_config_load_errors_total', 'gitlab-runner'), 'gitlab_runner_configuration_loading_error_total')
  t.equal(metricName('runner_request_concurrency', 'gitlab-runner'), 'gitlab_runner_request_concurrency')
  t.equal(metricName('runner_metrics_scrapes_total', 'gitlab-runner'), 'gitlab_runner_metrics_scrapes_total')
  t.equal(metricName('process_cpu_seconds_total', 'gitlab-runner'), 'process_cpu_seconds_total')
  t.equal(metricName('runner_builds', 'runner'), 'runner_builds')
  t.ok(Object.values(GITLAB_RUNNER_NAMES).every((name) => name.startsWith('gitlab_runner_')))
})

t.test('configured runners have the new families at zero where that makes sense', async (t) => {
  const app = await appWith({ runners: [{ name: 'idle', requestConcurrency: 3 }] })
  t.teardown(() => app.close())
  const samples = await scrape(app)
  t.equal(samples.get(series('runner_build_queue_duration_seconds_count', { runner: 'idle' })), 0)
  QUEUE_BUCKETS.forEach((le) => t.equal(samples.get(series('runner_build_queue_duration_seconds_bucket', { runner: 'idle', le })), 0))
  t.equal(samples.get(series('runner_request_concurrency', { runner: 'idle' })), 0)
  t.equal(samples.get(series('runner_request_concurrency_exceeded_total', { runner: 'idle' })), 0)
  t.equal(samplesOf(samples, 'runner_build_stage_duration_seconds_count').size, 0, `stage series come with their first observation (${STAGE_BUCKETS.length + 3} lines each)`)
  t.equal(samplesOf(samples, 'runner_api_requests_total').size, 0, 'statuses are not known in advance')
  t.equal(samplesOf(samples, 'runner_api_request_duration_seconds_count').size, 0)
})

t.test('the naming option is checked', async (t) => {
  const error = await appWith({ naming: 'prometheus' as Naming }).catch((error: unknown) => error)
  t.ok(error instanceof TypeError)
  t.match(error, { code: 'FST_RUNNER_METRICS_OPTION_INVALID', message: 'fastify-runner-metrics: option "naming" must be one of "runner", "gitlab-runner", got "prometheus"' })
})

t.test('standalone: metrics_naming names every family, config ones included; a reload cannot rename', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) })
  const server = await startMetricsServer({ config: { metrics_naming: 'gitlab-runner', runners: [{ name: 'a', request_concurrency: 2 }] }, logger })
  t.teardown(() => server.close())
  const samples = await scrape(server.app)
  t.equal(samples.get('gitlab_runner_configuration_loaded_total'), 1)
  t.equal(samples.get('gitlab_runner_configuration_loading_error_total'), 0)
  t.ok(samples.has('gitlab_runner_config_last_load_success_timestamp_seconds'))
  t.equal(samplesOf(samples, 'gitlab_runner_version_info').size, 1)
  t.equal(samples.get(series('gitlab_runner_request_concurrency', { runner: 'a' })), 0)
  t.ok(server.tracker.requestJob('a') !== undefined && server.tracker.requestJob('a') !== undefined, 'request_concurrency 2 grants two')
  t.equal(server.tracker.requestJob('a'), undefined)
  t.same(await server.reload({ metrics_naming: 'runner' }), { ok: true }, 'the rest of the config applies')
  t.match(lines.join(''), /metrics_naming = \\"runner\\" takes effect at the next start; the metrics keep their \\"gitlab-runner\\" names until then/)
  t.ok((await scrape(server.app)).has('gitlab_runner_configuration_loaded_total'))
})

t.test('standalone: the naming option overrides metrics_naming', async (t) => {
  const server = await startMetricsServer({ config: { metrics_naming: 'gitlab-runner' }, naming: 'runner', logger: pino({ level: 'silent' }) })
  t.teardown(() => server.close())
  t.ok((await scrape(server.app)).has('runner_config_loaded_total'))
  t.same(await server.reload({}), { ok: true })
})

t.test('CLI: --naming gitlab-runner; a bad value exits 2 naming the flag and the allowed values', { timeout: 60_000 }, async (t) => {
  const config = join(mkdtempSync(join(tmpdir(), 'naming-')), 'config.toml')
  writeFileSync(config, 'metrics_naming = "runner"\n[[runners]]\nname = "docker-1"\n')
  const good = runServer(['--config', config, '--metrics-server', '127.0.0.1:0', '--naming', 'gitlab-runner'])
  t.teardown(() => good.child.kill())
  await good.waitFor(/listening on/, 30_000)
  const body = await (await fetch(`${good.url()}/metrics`)).text()
  t.match(body, /^gitlab_runner_jobs_total\{runner="docker-1"\} 0$/m, 'the flag wins over metrics_naming')
  t.notMatch(body, /^runner_/m)

  const bad = runServer(['--config', config, '--naming', 'nope'])
  t.teardown(() => bad.child.kill())
  t.same(await bad.exited, { code: 2, signal: null })
  t.match(bad.stderr(), /^fastify-runner-metrics: --naming must be one of "runner", "gitlab-runner", got "nope"\nusage: /)
})

t.test('naming gitlab-runner answers Prometheus\' OpenMetrics Accept header with the text format, as GitLab Runner does', async (t) => {
  // gitlab_runner_jobs (gauge) and gitlab_runner_jobs_total (counter) are one family name in
  // OpenMetrics, where a counter's family drops `_total`: only the text format can carry both.
  const app = await appWith({ naming: 'gitlab-runner', runners: [{ name: 'a' }] })
  t.teardown(() => app.close())
  const accept = 'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2'
  const response = await app.inject({ url: '/metrics', headers: { accept, 'accept-encoding': 'gzip' } })
  t.equal(response.statusCode, 200, response.statusCode === 200 ? '' : response.body)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(response.headers['content-encoding'], 'gzip')
  const runner = await appWith({ runners: [{ name: 'a' }] })
  t.teardown(() => runner.close())
  t.match((await runner.inject({ url: '/metrics', headers: { accept } })).headers['content-type'], /^application\/openmetrics-text/, 'the default naming still speaks OpenMetrics')
})

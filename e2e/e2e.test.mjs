// End to end: a fleet of runner managers scraped by the real Prometheus.
//
//   npx tsc -p . && node --test e2e/
//
// Three `node dist/server.js` processes and one manager embedded in this process
// (startMetricsServer, fed with builds) are found by Prometheus through e2e/prometheus.yml's
// file_sd_configs; the test asks Prometheus' HTTP API what it scraped, moves two managers to
// new addresses (SIGHUP and reload()), and follows them there. mixin/alerts.yml is loaded as
// the rule file and every query of mixin/dashboard.json is run.
//
// Everything listens on 127.0.0.0/8. Without a `prometheus` binary on PATH (or $PROMETHEUS)
// the suite is skipped, unless REQUIRE_PROMTOOL=1 or REQUIRE_PROMETHEUS=1 (CI): then it fails.
// KEEP_E2E_TMP=1 keeps the temporary directory (configs, logs, Prometheus data).

import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, rmSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SERVER_JS = join(ROOT, 'dist', 'server.js')
const INDEX_JS = join(ROOT, 'dist', 'server', 'index.js')
const PROMETHEUS = process.env.PROMETHEUS || 'prometheus'
const REQUIRED = process.env.REQUIRE_PROMTOOL === '1' || process.env.REQUIRE_PROMETHEUS === '1'
const JOB = 'runner-manager'
const POLL_MS = 250
const EVENTUALLY_MS = 30_000

const prometheusFound = spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore' }).status === 0
const built = existsSync(SERVER_JS) && existsSync(INDEX_JS)

// The fleet. Runner names are only unique per manager; `manager` is the stable label the
// targets file gives each one, since `instance` (the address) changes when a manager moves.
const STANDALONE = [
  { manager: 'rm-a', concurrent: 4, runners: [{ name: 'docker-a1', limit: 2 }, { name: 'shell-a1', limit: 1 }] },
  { manager: 'rm-b', concurrent: 6, runners: [{ name: 'docker-b1', limit: 4 }] },
  { manager: 'rm-c', concurrent: 10, runners: [{ name: 'k8s-c1', limit: 5 }, { name: 'k8s-c2' }, { name: 'docker-c3', limit: 3 }] }
]
const EMBEDDED = {
  manager: 'embedded',
  concurrent: 4,
  runners: [{ name: 'embedded-docker', limit: 2 }, { name: 'embedded-shell', request_concurrency: 2 }],
  version: { version: '0.1.0-e2e', revision: 'e2e0001', branch: 'e2e' }
}
const ALL = [...STANDALONE, EMBEDDED]
const sum = (values) => values.reduce((a, b) => a + b, 0)
const CONCURRENT_SUM = sum(ALL.map((m) => m.concurrent)) // 24
const LIMIT_SUM = sum(ALL.flatMap((m) => m.runners.map((r) => r.limit ?? 0))) // 17
const RUNNER_COUNT = ALL.flatMap((m) => m.runners).length // 8

// --- helpers -----------------------------------------------------------------------------

/** A line-buffered log of a child process (or of the embedded manager's logger). */
class LogLines {
  lines = []
  #partial = ''
  #waiters = new Set()
  push (chunk) {
    const text = this.#partial + chunk.toString()
    const parts = text.split('\n')
    this.#partial = parts.pop()
    for (const line of parts) {
      this.lines.push(line)
      for (const waiter of this.#waiters) waiter()
    }
  }

  /** The first line at index >= from matching `pattern`; rejects after `ms`. */
  async waitFor (pattern, { from = 0, ms = 15_000, what = String(pattern) } = {}) {
    const find = () => {
      for (let i = from; i < this.lines.length; i++) {
        const match = pattern.exec(this.lines[i])
        if (match) return match
      }
      return undefined
    }
    let wake
    const woken = () => wake?.()
    this.#waiters.add(woken)
    const deadline = Date.now() + ms
    try {
      for (;;) {
        const match = find()
        if (match) return match
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; log:\n${this.tail()}`)
        await Promise.race([new Promise((resolve) => { wake = resolve }), sleep(Math.min(left, 500))])
      }
    } finally {
      this.#waiters.delete(woken)
    }
  }

  tail (n = 30) {
    return [...this.lines, this.#partial].filter(Boolean).slice(-n).join('\n')
  }
}

const children = new Set()
const tempDirs = new Set()
// Last resort if the test process is ended without running its after hook: no child
// outlives it, no temporary directory stays.
function killAll () {
  for (const child of children) child.kill('SIGKILL')
  if (process.env.KEEP_E2E_TMP === '1') return
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }) } catch {}
  }
}
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll()
    process.kill(process.pid, signal)
  })
}

function startChild (name, command, args, { cwd, env = process.env }) {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const log = new LogLines()
  child.stdout.on('data', (chunk) => log.push(chunk))
  child.stderr.on('data', (chunk) => log.push(chunk))
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  child.exited.then(() => children.delete(child))
  child.once('error', (error) => log.push(`spawn error: ${error.message}\n`))
  children.add(child)
  return { name, child, log }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
async function stopChild (child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return await child.exited
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  try {
    return await child.exited
  } finally {
    clearTimeout(timer)
  }
}

/** A port free on 127.0.0.1 right now (Prometheus has no "port 0 and tell me"). */
async function freePort () {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

/** Retries `fn` until it returns without throwing; rethrows its last error after `ms`. */
async function eventually (what, fn, ms = EVENTUALLY_MS) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try {
      return await fn()
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      last.message = `${what}: still failing after ${ms} ms: ${last.message}`
      throw last
    }
    await sleep(POLL_MS)
  }
}

function managerToml ({ concurrent, runners }, address) {
  return [
    '# written by e2e/e2e.test.mjs',
    `concurrent = ${concurrent}`,
    'log_level = "info"',
    `metrics_server = "${address}"`,
    '',
    ...runners.flatMap((r) => [
      '[[runners]]',
      `  name = "${r.name}"`,
      '  url = "https://gitlab.example.com/"',
      `  token = "glrt-E2E-SECRET-${r.name}"`,
      '  executor = "shell"',
      ...(r.limit === undefined ? [] : [`  limit = ${r.limit}`]),
      ''
    ])
  ].join('\n')
}

const listeningLine = /metrics server listening on http:\/\/([0-9.]+:\d+)/

// --- the suite -----------------------------------------------------------------------------

const skip = !prometheusFound && !REQUIRED ? `no prometheus binary (${PROMETHEUS}); set REQUIRE_PROMETHEUS=1 to fail instead` : false

describe('a fleet of runner managers scraped by a real Prometheus', { skip }, () => {
  let dir
  let promUrl
  let prometheus
  const standalone = new Map() // manager -> { child, log, address, configPath }
  let embedded // { server, log, address }
  const embeddedLog = new LogLines()

  async function query (promql) {
    const response = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: promql })}`, { signal: AbortSignal.timeout(5000) })
    const body = await response.json()
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.errorType}: ${body.error}`)
    return body.data.result
  }

  /** The single value of an instant query; throws (so `eventually` retries) when there is none. */
  async function value (promql) {
    const result = await query(promql)
    assert.equal(result.length, 1, `${promql}: expected one series, got ${JSON.stringify(result)}`)
    return Number(result[0].value[1])
  }

  /** Asserts that `promql` returns exactly `expected`, polling until it does. */
  async function expectValue (promql, expected) {
    await eventually(promql, async () => assert.equal(await value(promql), expected, promql))
  }

  /** The targets file, replaced atomically as Prometheus' docs ask. */
  async function writeTargets () {
    const groups = [
      ...[...standalone.entries()].map(([manager, m]) => ({ targets: [m.address], labels: { job: JOB, manager } })),
      { targets: [embedded.address], labels: { job: JOB, manager: EMBEDDED.manager } }
    ]
    const file = join(dir, 'targets', 'runner-managers.json')
    await writeFile(`${file}.tmp`, JSON.stringify(groups, null, 2))
    await rename(`${file}.tmp`, file)
  }

  async function startPrometheus () {
    // The port is probed free, then handed to Prometheus: retry if someone took it in between.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const started = startChild('prometheus', PROMETHEUS, [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=info'
      ], { cwd: dir })
      const url = `http://127.0.0.1:${port}`
      const ready = (async () => {
        const deadline = Date.now() + 30_000
        while (Date.now() < deadline) {
          if (started.child.exitCode !== null) return false
          try {
            const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })
            if (response.status === 200) return true
          } catch {}
          await sleep(200)
        }
        return false
      })()
      if (await ready) return { ...started, url }
      await stopChild(started.child, 2000)
      if (attempt === 3 || !/address already in use/.test(started.log.tail(100))) {
        throw new Error(`prometheus did not get ready on ${url}; its log:\n${started.log.tail()}`)
      }
    }
  }

  before(async () => {
    assert.ok(prometheusFound, `no prometheus binary (${PROMETHEUS}) but REQUIRE_PROMETHEUS/REQUIRE_PROMTOOL is set`)
    assert.ok(built, `${SERVER_JS} is missing: build first (npx tsc -p .)`)
    dir = await mkdtemp(join(tmpdir(), 'runner-metrics-e2e-'))
    tempDirs.add(dir)
    await mkdir(join(dir, 'targets'))
    await mkdir(join(dir, 'rules'))

    // Three standalone managers, each on a port of its own choosing.
    const env = { ...process.env }
    delete env.METRICS_SERVER // it would override the config's address
    await Promise.all(STANDALONE.map(async (m) => {
      const configPath = join(dir, `${m.manager}.toml`)
      await writeFile(configPath, managerToml(m, '127.0.0.1:0'))
      const started = startChild(m.manager, process.execPath, [SERVER_JS, '--config', configPath], { cwd: dir, env })
      const [, address] = await started.log.waitFor(listeningLine, { what: `${m.manager} listening` })
      standalone.set(m.manager, { ...started, address, configPath })
    }))

    // One manager embedded here, fed with builds of known counts.
    const { startMetricsServer } = await import(INDEX_JS)
    const { default: pino } = await import('pino')
    const logger = pino({ level: 'info' }, new Writable({ write (chunk, _encoding, done) { embeddedLog.push(chunk); done() } }))
    const server = await startMetricsServer({
      config: { metrics_server: '127.0.0.1:0', concurrent: EMBEDDED.concurrent, runners: EMBEDDED.runners },
      version: EMBEDDED.version,
      logger,
      closeGraceMs: 2000
    })
    const { address, port } = server.address()
    embedded = { server, address: `${address}:${port}` }
    const { tracker } = server
    // embedded-docker: 3 succeed, 1 fails (script_failure), 1 stays in step_script; they
    // waited 10, 20, ... 50 s in GitLab's queue.
    for (let id = 1; id <= 5; id++) {
      const build = tracker.start({ id, runner: 'embedded-docker', queueSeconds: id * 10, url: `https://gitlab.example.com/group/project/-/jobs/${id}` })
      build.setStage('prepare_executor')
      build.setStage('get_sources')
      build.setStage('step_script')
      if (id <= 3) build.finish({ state: 'success' })
      else if (id === 4) build.finish({ state: 'failed', failureReason: 'script_failure' })
    }
    // embedded-shell: one pending (no stage yet), one in get_sources.
    tracker.start({ id: 6, runner: 'embedded-shell' })
    tracker.start({ id: 7, runner: 'embedded-shell' }).setStage('get_sources')
    // Requests to GitLab's API, and job requests: embedded-docker (request_concurrency 1) holds
    // one and is refused twice; embedded-shell (request_concurrency 2) holds two, is refused once.
    tracker.apiRequest({ runner: 'embedded-docker', endpoint: 'request_job', status: 201, seconds: 0.2 })
    tracker.apiRequest({ runner: 'embedded-docker', endpoint: 'request_job', status: 204, seconds: 0.4 })
    tracker.apiRequest({ runner: 'embedded-docker', endpoint: 'update_job', status: 200, seconds: 0.05 })
    // A series appears with its first request, and Prometheus sees no increase in a counter's
    // first sample: the 502 series exists from here so that the later 502 is a rate.
    tracker.apiRequest({ runner: 'embedded-docker', endpoint: 'update_job', status: 502, seconds: 0.05 })
    for (const runner of ['embedded-docker', 'embedded-docker', 'embedded-docker', 'embedded-shell', 'embedded-shell', 'embedded-shell']) tracker.requestJob(runner)

    // Prometheus, on e2e/prometheus.yml as it is, with the mixin's rules.
    await copyFile(join(ROOT, 'e2e', 'prometheus.yml'), join(dir, 'prometheus.yml'))
    await copyFile(join(ROOT, 'mixin', 'alerts.yml'), join(dir, 'rules', 'runner-manager.yml'))
    await writeTargets()
    prometheus = await startPrometheus()
    promUrl = prometheus.url
  }, { timeout: 60_000 })

  after(async () => {
    await Promise.allSettled([
      embedded?.server.close(),
      ...[...children].map((child) => stopChild(child))
    ])
    if (dir === undefined) return
    if (process.env.KEEP_E2E_TMP === '1') {
      await Promise.all([
        writeFile(join(dir, 'prometheus.log'), prometheus?.log.tail(Infinity) ?? ''),
        writeFile(join(dir, 'embedded.log'), embeddedLog.tail(Infinity)),
        ...[...standalone.entries()].map(([name, m]) => writeFile(join(dir, `${name}.log`), m.log.tail(Infinity)))
      ])
      process.stderr.write(`e2e: kept ${dir}\n`)
    } else {
      await rm(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
    }
  }, { timeout: 30_000 })

  test('Prometheus scrapes every manager: up == 1 on all four targets', { timeout: 40_000 }, async () => {
    const expected = ALL.map((m) => m.manager === EMBEDDED.manager ? embedded.address : standalone.get(m.manager).address).sort()
    await eventually('all targets up', async () => {
      const result = await query(`up{job="${JOB}"} == 1`)
      assert.deepEqual(result.map((s) => s.metric.instance).sort(), expected)
    })
    await expectValue(`count(up{job="${JOB}"})`, 4)
  })

  test('sum(runner_concurrent) is the sum of the four configs, and limits and runners add up', { timeout: 40_000 }, async () => {
    await expectValue(`sum(runner_concurrent{job="${JOB}"})`, CONCURRENT_SUM)
    for (const m of ALL) await expectValue(`runner_concurrent{job="${JOB}",manager="${m.manager}"}`, m.concurrent)
    await expectValue(`sum(runner_limit{job="${JOB}"})`, LIMIT_SUM)
    // Every configured runner has its series before its first build.
    await expectValue(`count(runner_builds_started_total{job="${JOB}"})`, RUNNER_COUNT)
    await expectValue(`count(runner_builds{job="${JOB}",state="pending",stage="none"})`, RUNNER_COUNT)
    // No runner without a limit has a runner_limit series.
    await expectValue(`count(runner_limit{job="${JOB}"})`, ALL.flatMap((m) => m.runners).filter((r) => r.limit !== undefined).length)
  })

  test('the builds fed to the embedded manager show up in Prometheus', { timeout: 40_000 }, async () => {
    const sel = (extra) => `job="${JOB}",manager="embedded",${extra}`
    await expectValue(`runner_builds{${sel('runner="embedded-docker",state="running",stage="step_script"')}}`, 1)
    await expectValue(`runner_builds{${sel('runner="embedded-shell",state="pending",stage="none"')}}`, 1)
    await expectValue(`runner_builds{${sel('runner="embedded-shell",state="running",stage="get_sources"')}}`, 1)
    await expectValue(`sum(runner_builds{${sel('runner="embedded-docker",stage="get_sources"')}})`, 0) // it passed through
    await expectValue(`sum(runner_builds{job="${JOB}"})`, 3) // the standalone managers run nothing
    await expectValue(`runner_builds_started_total{${sel('runner="embedded-docker"')}}`, 5)
    await expectValue(`runner_builds_started_total{${sel('runner="embedded-shell"')}}`, 2)
    await expectValue(`runner_builds_finished_total{${sel('runner="embedded-docker",state="success"')}}`, 3)
    await expectValue(`runner_builds_finished_total{${sel('runner="embedded-docker",state="failed"')}}`, 1)
    await expectValue(`runner_build_failures_total{${sel('runner="embedded-docker",failure_reason="script_failure"')}}`, 1)
    // Real durations are milliseconds: assert counts, all in the first bucket.
    await expectValue(`runner_build_duration_seconds_count{${sel('runner="embedded-docker"')}}`, 4)
    await expectValue(`runner_build_duration_seconds_bucket{${sel('runner="embedded-docker",le="30"')}}`, 4)
    await expectValue(`runner_build_duration_seconds_count{${sel('runner="embedded-shell"')}}`, 0)
    // The version labels it was given, and the default ones of the standalone processes.
    await expectValue(`count(runner_version_info{${sel('version="0.1.0-e2e",revision="e2e0001",branch="e2e"')}})`, 1)
    await expectValue(`count(runner_version_info{job="${JOB}",manager=~"rm-.*",name="fastify-runner-metrics"})`, 3)
  })

  test('queue and stage times, API requests and job requests of the embedded manager show up exactly', { timeout: 40_000 }, async () => {
    const sel = (extra) => `job="${JOB}",manager="embedded",${extra}`
    await expectValue(`runner_build_queue_duration_seconds_count{${sel('runner="embedded-docker"')}}`, 5)
    await expectValue(`runner_build_queue_duration_seconds_sum{${sel('runner="embedded-docker"')}}`, 150)
    await expectValue(`runner_build_queue_duration_seconds_bucket{${sel('runner="embedded-docker",le="30"')}}`, 3)
    // Every configured runner has its queue histogram and request series at zero from the start.
    await expectValue(`count(runner_build_queue_duration_seconds_count{job="${JOB}"})`, RUNNER_COUNT)
    await expectValue(`count(runner_request_concurrency{job="${JOB}"})`, RUNNER_COUNT)
    await expectValue(`count(runner_request_concurrency_exceeded_total{job="${JOB}"})`, RUNNER_COUNT)
    // Each build left prepare_executor and get_sources; four left step_script (by finishing).
    await expectValue(`runner_build_stage_duration_seconds_count{${sel('runner="embedded-docker",stage="prepare_executor"')}}`, 5)
    await expectValue(`runner_build_stage_duration_seconds_count{${sel('runner="embedded-docker",stage="step_script"')}}`, 4)
    await expectValue(`count(runner_build_stage_duration_seconds_count{${sel('runner="embedded-docker"')}})`, 3)
    await expectValue(`runner_api_requests_total{${sel('runner="embedded-docker",endpoint="request_job",status="201"')}}`, 1)
    await expectValue(`sum(runner_api_requests_total{job="${JOB}"})`, 4)
    await expectValue(`runner_api_request_duration_seconds_count{${sel('runner="embedded-docker",endpoint="request_job"')}}`, 2)
    await expectValue(`runner_api_request_duration_seconds_bucket{${sel('runner="embedded-docker",endpoint="request_job",le="0.25"')}}`, 1)
    await expectValue(`runner_request_concurrency{${sel('runner="embedded-docker"')}}`, 1)
    await expectValue(`runner_request_concurrency_exceeded_total{${sel('runner="embedded-docker"')}}`, 2)
    await expectValue(`runner_request_concurrency{${sel('runner="embedded-shell"')}}`, 2)
    await expectValue(`runner_request_concurrency_exceeded_total{${sel('runner="embedded-shell"')}}`, 1)
    // The job URL is for the jobs list, never for Prometheus.
    const body = await (await fetch(`http://${embedded.address}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
    assert.doesNotMatch(body, /gitlab\.example\.com/)
    const list = await (await fetch(`http://${embedded.address}/debug/jobs/list`, { signal: AbortSignal.timeout(5000) })).text()
    assert.match(list, /^id=5 url=https:\/\/gitlab\.example\.com\/group\/project\/-\/jobs\/5 runner=embedded-docker state=running stage=step_script /m)
  })

  test('the mixin rules load in Prometheus and the recording rules compute', { timeout: 40_000 }, async () => {
    const response = await fetch(`${promUrl}/api/v1/rules`, { signal: AbortSignal.timeout(5000) })
    const { data } = await response.json()
    const rules = data.groups.flatMap((g) => g.rules)
    assert.ok(rules.length >= 20, `expected the mixin's rules, got ${rules.length}`)
    await eventually('every rule evaluated without error', async () => {
      const { data } = await (await fetch(`${promUrl}/api/v1/rules`, { signal: AbortSignal.timeout(5000) })).json()
      const bad = data.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok')
      assert.deepEqual(bad.map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`), [])
    })
    await expectValue('instance:runner_builds:sum{manager="embedded"}', 3)
    await expectValue('instance:runner_builds_per_concurrent:ratio{manager="embedded"}', 3 / EMBEDDED.concurrent)
    await expectValue('instance_runner:runner_builds_per_limit:ratio{manager="embedded",runner="embedded-docker"}', 1 / 2)
    await expectValue('job_runner:runner_builds_running:sum{runner="embedded-shell"}', 1)
    // The embedded manager reports another version than the standalone ones: that alert is
    // pending (it fires after an hour), and nothing else is wrong with this fleet.
    await eventually('alerts', async () => {
      const alerts = await (await fetch(`${promUrl}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) })).json()
      assert.deepEqual(alerts.data.alerts.map((a) => `${a.labels.alertname} ${a.labels.job} ${a.state}`), [`RunnerVersionMismatch ${JOB} pending`])
    })
  })

  test('every query of the dashboard runs and returns data', { timeout: 40_000 }, async () => {
    const dashboard = JSON.parse(await readFile(join(ROOT, 'mixin', 'dashboard.json'), 'utf8'))
    const expressions = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr }))),
      ...dashboard.annotations.list.filter((a) => a.expr).map((a) => ({ title: `annotation ${a.name}`, expr: a.expr })),
      ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => ({ title: `variable ${v.name}`, expr: v.query.query.replace(/^label_values\((.*), \w+\)$/, '$1') }))
    ]
    assert.ok(expressions.length > 30, `found only ${expressions.length} queries`)
    // A failure now, so that the panels of failures in the last minute have one to show.
    const failing = embedded.server.tracker.start({ id: 8, runner: 'embedded-shell' })
    failing.setStage('prepare_executor')
    failing.finish({ state: 'failed', failureReason: 'runner_system_failure' })
    // And requests to GitLab now, one of them a server error, for the API panels' rates.
    embedded.server.tracker.apiRequest({ runner: 'embedded-docker', endpoint: 'update_job', status: 502, seconds: 1.5 })
    embedded.server.tracker.apiRequest({ runner: 'embedded-docker', endpoint: 'update_job', status: 200, seconds: 0.1 })
    embedded.server.tracker.start({ id: 9, runner: 'embedded-shell', queueSeconds: 4 }).finish({ state: 'success' })
    // Grafana's substitutions, for a dashboard opened on the last minute of this fleet.
    const substitute = (expr) => expr
      .replaceAll('$__rate_interval', '10s')
      .replaceAll('$__range', '1m')
      .replaceAll('$job', JOB)
      .replaceAll('$instance', '.+')
    await eventually('dashboard queries', async () => {
      const empty = []
      for (const { title, expr } of expressions) {
        const result = await query(substitute(expr)) // throws on a query error
        if (result.length === 0) empty.push(`${title}: ${expr}`)
      }
      // The annotations mark config loads and failed reloads: none has happened yet (a load
      // at start is no change).
      const allowedEmpty = ['annotation Config loads', 'annotation Failed config reloads']
      assert.deepEqual(empty.filter((e) => !allowedEmpty.some((a) => e.startsWith(a))), [])
    })
  })

  test('the API errors fed above make RunnerGitLabApiErrors pending for that runner and endpoint', { timeout: 40_000 }, async () => {
    await expectValue('count(instance_runner_endpoint:runner_api_requests_server_errors:ratio_rate10m{manager="embedded",runner="embedded-docker",endpoint="update_job"} > 0.1)', 1)
    await expectValue(`count(ALERTS{alertname="RunnerGitLabApiErrors",alertstate="pending",job="${JOB}",manager="embedded",runner="embedded-docker",endpoint="update_job"})`, 1)
    await expectValue('count(ALERTS{alertname="RunnerGitLabApiErrors"})', 1)
  })

  test('SIGHUP with a new address rebinds a standalone manager and Prometheus follows it', { timeout: 60_000 }, async () => {
    const m = standalone.get('rm-b')
    const config = STANDALONE.find((c) => c.manager === 'rm-b')
    const oldAddress = m.address
    const from = m.log.lines.length
    await writeFile(m.configPath, managerToml(config, '127.0.0.2:0'))
    m.child.kill('SIGHUP')
    const [, address] = await m.log.waitFor(/metrics server listening on http:\/\/(127\.0\.0\.2:\d+)/, { from, what: 'rm-b listening on 127.0.0.2' })
    await m.log.waitFor(/config reloaded/, { from, what: 'rm-b config reloaded' })
    m.address = address
    // The old listener is gone once the new one is up.
    await eventually('old address closed', async () => {
      await assert.rejects(fetch(`http://${oldAddress}/metrics`, { signal: AbortSignal.timeout(1000) }))
    }, 15_000)
    await writeTargets()

    await eventually('rm-b scraped at its new address', async () => {
      const result = await query(`up{job="${JOB}",manager="rm-b"}`)
      assert.deepEqual(result.map((s) => [s.metric.instance, s.value[1]]), [[address, '1']])
    })
    await expectValue(`count(up{job="${JOB}"} == 1)`, 4)
    await expectValue(`count(up{job="${JOB}"})`, 4)
    await expectValue(`sum(runner_concurrent{job="${JOB}"})`, CONCURRENT_SUM)
    // Same process, same counters: loaded at start and on this reload.
    await expectValue(`runner_config_loaded_total{job="${JOB}",manager="rm-b",instance="${address}"}`, 2)
    await expectValue(`runner_config_load_errors_total{job="${JOB}",manager="rm-b"}`, 0)
  })

  test('reload() with a new address rebinds the embedded manager; its builds carry over', { timeout: 60_000 }, async () => {
    const result = await embedded.server.reload({ metrics_server: '127.0.0.3:0', concurrent: EMBEDDED.concurrent, runners: EMBEDDED.runners })
    assert.deepEqual(result, { ok: true })
    const { address, port } = embedded.server.address()
    assert.equal(address, '127.0.0.3')
    embedded.address = `${address}:${port}`
    await embeddedLog.waitFor(/metrics server listening on http:\/\/127\.0\.0\.3:\d+/, { what: 'embedded listening on 127.0.0.3' })
    // One more build finishes after the move.
    embedded.server.tracker.get(5).finish({ state: 'success' })
    await writeTargets()

    const sel = `job="${JOB}",manager="embedded",instance="${embedded.address}"`
    await expectValue(`runner_build_duration_seconds_count{${sel},runner="embedded-docker"}`, 5)
    await expectValue(`runner_builds_finished_total{${sel},runner="embedded-docker",state="success"}`, 4)
    await expectValue(`runner_builds_started_total{${sel},runner="embedded-docker"}`, 5)
    await expectValue(`sum(runner_builds{${sel}})`, 2)
    await expectValue(`runner_config_loaded_total{${sel}}`, 2)
    await expectValue(`count(up{job="${JOB}"} == 1)`, 4)
    await expectValue(`count(up{job="${JOB}"})`, 4)
    await expectValue(`sum(runner_concurrent{job="${JOB}"})`, CONCURRENT_SUM)
  })

  test('a failed reload is counted and RunnerConfigReloadFailing goes pending until a good one', { timeout: 60_000 }, async () => {
    const m = standalone.get('rm-a')
    const config = STANDALONE.find((c) => c.manager === 'rm-a')
    const pendingAlert = `ALERTS{alertname="RunnerConfigReloadFailing",alertstate="pending",job="${JOB}",manager="rm-a"}`
    let from = m.log.lines.length
    await writeFile(m.configPath, managerToml(config, '127.0.0.1:0').replace(/^concurrent = .*$/m, 'concurrent = "many"'))
    m.child.kill('SIGHUP')
    await m.log.waitFor(/config reload failed, the previous config stays in force/, { from, what: 'rm-a reload failed' })
    await expectValue(`runner_config_load_errors_total{job="${JOB}",manager="rm-a"}`, 1)
    await expectValue(`runner_config_loaded_total{job="${JOB}",manager="rm-a"}`, 1)
    await expectValue(`runner_concurrent{job="${JOB}",manager="rm-a"}`, config.concurrent) // the old config stays
    await expectValue(`count(${pendingAlert})`, 1)

    from = m.log.lines.length
    await writeFile(m.configPath, managerToml(config, '127.0.0.1:0'))
    m.child.kill('SIGHUP')
    await m.log.waitFor(/config reloaded/, { from, what: 'rm-a config reloaded' })
    await expectValue(`runner_config_loaded_total{job="${JOB}",manager="rm-a"}`, 2)
    await eventually('RunnerConfigReloadFailing resolved', async () => assert.deepEqual(await query(pendingAlert), []))
  })

  test('the standalone managers exit 0 on SIGTERM', { timeout: 30_000 }, async () => {
    const endings = await Promise.all([...standalone.values()].map(async (m) => {
      m.child.kill('SIGTERM')
      const timer = setTimeout(() => m.child.kill('SIGKILL'), 15_000)
      try {
        return await m.child.exited
      } finally {
        clearTimeout(timer)
      }
    }))
    assert.deepEqual(endings, STANDALONE.map(() => ({ code: 0, signal: null })))
  })
})

describe('one manager with --naming gitlab-runner, scraped by a real Prometheus', { skip }, () => {
  let dir
  let manager
  let prometheus

  async function query (promql) {
    const response = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: promql })}`, { signal: AbortSignal.timeout(5000) })
    const body = await response.json()
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.errorType}: ${body.error}`)
    return body.data.result
  }

  async function expectValue (promql, expected) {
    await eventually(promql, async () => {
      const result = await query(promql)
      assert.equal(result.length, 1, `${promql}: expected one series, got ${JSON.stringify(result)}`)
      assert.equal(Number(result[0].value[1]), expected, promql)
    })
  }

  before(async () => {
    assert.ok(built, `${SERVER_JS} is missing: build first (npx tsc -p .)`)
    dir = await mkdtemp(join(tmpdir(), 'runner-metrics-e2e-naming-'))
    tempDirs.add(dir)
    const config = join(dir, 'config.toml')
    // metrics_naming says runner; the flag wins, as --metrics-server wins over metrics_server.
    await writeFile(config, `metrics_naming = "runner"\n${managerToml({ concurrent: 3, runners: [{ name: 'docker-gl', limit: 2 }] }, '127.0.0.1:0')}`)
    const env = { ...process.env }
    delete env.METRICS_SERVER
    manager = startChild('rm-gl', process.execPath, [SERVER_JS, '--config', config, '--naming', 'gitlab-runner'], { cwd: dir, env })
    const [, address] = await manager.log.waitFor(listeningLine, { what: 'rm-gl listening' })
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      await writeFile(join(dir, 'prometheus.yml'), [
        'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: gitlab-runner',
        `    static_configs: [{ targets: ["${address}"] }]`
      ].join('\n'))
      const started = startChild('prometheus-gl', PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { cwd: dir })
      prometheus = { ...started, url: `http://127.0.0.1:${port}` }
      const ready = await eventually('prometheus ready', async () => {
        if (started.child.exitCode !== null) return false
        assert.equal((await fetch(`${prometheus.url}/-/ready`, { signal: AbortSignal.timeout(1000) })).status, 200)
        return true
      }).catch(() => false)
      if (ready) break
      await stopChild(started.child, 2000)
      if (attempt === 3) throw new Error(`prometheus did not get ready; its log:\n${started.log.tail()}`)
    }
  }, { timeout: 60_000 })

  after(async () => {
    await Promise.allSettled([manager, prometheus].filter(Boolean).map(({ child }) => stopChild(child)))
    if (dir !== undefined && process.env.KEEP_E2E_TMP !== '1') {
      await rm(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
    }
  }, { timeout: 30_000 })

  test('GitLab Runner\'s names, and no runner_ family', { timeout: 40_000 }, async () => {
    await expectValue('up{job="gitlab-runner"}', 1).catch(async (error) => {
      const targets = await (await fetch(`${prometheus.url}/api/v1/targets`)).json()
      error.message += `\ntargets: ${JSON.stringify(targets.data.activeTargets.map((t) => [t.scrapeUrl, t.health, t.lastError]))}`
      throw error
    })
    await expectValue('gitlab_runner_concurrent{job="gitlab-runner"}', 3)
    await expectValue('gitlab_runner_limit{job="gitlab-runner",runner="docker-gl"}', 2)
    await expectValue('gitlab_runner_jobs_total{job="gitlab-runner",runner="docker-gl"}', 0)
    await expectValue('gitlab_runner_jobs{job="gitlab-runner",runner="docker-gl",state="pending",stage="none"}', 0)
    await expectValue('gitlab_runner_job_queue_duration_seconds_count{job="gitlab-runner",runner="docker-gl"}', 0)
    await expectValue('gitlab_runner_request_concurrency{job="gitlab-runner",runner="docker-gl"}', 0)
    await expectValue('gitlab_runner_configuration_loaded_total{job="gitlab-runner"}', 1)
    await expectValue('count(gitlab_runner_version_info{job="gitlab-runner"})', 1)
    // GitLab Runner's own dashboards query these: they work unchanged.
    await expectValue('sum(gitlab_runner_jobs{job="gitlab-runner"})', 0)
    assert.deepEqual(await query('{job="gitlab-runner",__name__=~"runner_.*"}'), [])
  })
})

// Benchmark of fastify-runner-metrics against its alternatives (issue 8). Not a test.
//
//   node bench/run.mjs            # about 4.5 minutes
//   node bench/run.mjs --quick    # about 40 seconds, fewer and shorter rounds
//
// It measures the built package (dist/, via the package's self-reference): build first with
// `npx tsc -p .`. Progress goes to stderr; the machine and ONE markdown table go to stdout.
// Every measurement runs in a child process of its own; see the files next to this one.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { forkChild, median, percentileSorted } from './common.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const args = process.argv.slice(2)
for (const arg of args) {
  if (arg !== '--quick') {
    process.stderr.write(`unknown argument ${arg}\nusage: node bench/run.mjs [--quick]\n`)
    process.exit(2)
  }
}
const QUICK = args.includes('--quick')

const CONFIG = QUICK
  ? { warmupSec: 1, durationSec: 1, rounds: 2, hotChildren: 1, hotWarmupMs: 300, hotRunMs: 200, hotRuns: 3, scrapeIterations: 200, eventLoopScrapes: 100, idleSec: 2, idleRounds: 2 }
  : { warmupSec: 2, durationSec: 3, rounds: 6, hotChildren: 2, hotWarmupMs: 1000, hotRunMs: 400, hotRuns: 5, scrapeIterations: 1000, eventLoopScrapes: 300, idleSec: 5, idleRounds: 5 }
const LIVE_BUILDS = 50_000
const CONNECTIONS = [1, 10]

const log = (message) => process.stderr.write(`[bench] ${message}\n`)

// ---------------------------------------------------------------------------------------
// What is measured, and on what

function filesUnder (dir, suffix) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return filesUnder(path, suffix)
    return entry.name.endsWith(suffix) && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

/** Refuses to run without dist/; warns when a lib/ source is newer than its build. */
function checkBuild () {
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) {
    process.stderr.write('bench: dist/index.js is missing; build first with `npx tsc -p .`\n')
    process.exit(1)
  }
  const stale = filesUnder(join(ROOT, 'lib'), '.ts').filter((source) => {
    const built = join(ROOT, 'dist', relative(join(ROOT, 'lib'), source)).replace(/\.ts$/, '.js')
    return !existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs
  })
  return stale.map((source) => relative(ROOT, source))
}

function gitRevision () {
  try {
    const revision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return dirty === '' ? revision : `${revision} (lib/ modified)`
  } catch {
    return 'unknown'
  }
}

function versionOf (name) {
  try {
    return createRequire(join(ROOT, 'package.json'))(`${name}/package.json`).version
  } catch {
    return '?'
  }
}

/** The share of all cores' time spent busy over the next `ms` milliseconds. */
async function cpuBusy (ms) {
  const sample = () => os.cpus().reduce((sum, cpu) => {
    const { idle, ...rest } = cpu.times
    sum.idle += idle
    sum.total += idle + Object.values(rest).reduce((a, b) => a + b, 0)
    return sum
  }, { idle: 0, total: 0 })
  const before = sample()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const after = sample()
  const total = after.total - before.total
  return total > 0 ? 1 - (after.idle - before.idle) / total : 0
}

// ---------------------------------------------------------------------------------------
// 1. Scrape throughput and latency over loopback

const SERVERS = [
  { key: 'plugin', script: 'servers/plugin.mjs', label: '(a) this plugin' },
  { key: 'fastifyMetrics', script: 'servers/fastify-metrics.mjs', label: '(b) fastify-metrics' },
  { key: 'promClient', script: 'servers/prom-client.mjs', label: '(c) prom-client on node:http' },
  { key: 'ceiling', script: 'servers/static.mjs', label: '(d) static string (ceiling)' }
]

/** The body as autocannon gets it: no Accept-Encoding, so never gzip. */
async function fetchBody (port) {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { 'accept-encoding': 'identity' } })
  if (response.status !== 200 || response.headers.get('content-encoding') !== null) throw new Error(`unexpected answer ${response.status} ${response.headers.get('content-encoding')}`)
  const body = await response.text()
  return { bytes: Buffer.byteLength(body), series: body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length }
}

/** The server process' CPU time so far (user + system), in microseconds. */
function serverCpu (child) {
  return new Promise((resolve, reject) => {
    const onExit = (code, signal) => reject(new Error(`a bench server exited (${signal ?? code}) during the run`))
    const onMessage = (message) => {
      if (message?.type !== 'cpu') return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message.usage.user + message.usage.system)
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
    child.send({ type: 'cpu' })
  })
}

/** One autocannon round; latencies come from every 2xx response, at microsecond resolution. */
// What Prometheus 3 sends by default: its Accept header, and gzip.
const PROMETHEUS_REQUEST = {
  accept: 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  'accept-encoding': 'gzip'
}

async function cannon (port, connections, durationSec, headers = {}) {
  const latencies = []
  let failed = 0
  const instance = autocannon({ url: `http://127.0.0.1:${port}/metrics`, connections, duration: durationSec, pipelining: 1, headers })
  instance.on('response', (client, statusCode, bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
    else failed++
  })
  const result = await instance
  latencies.sort((a, b) => a - b)
  return {
    rps: latencies.length / result.duration,
    responses: latencies.length + failed,
    p50: percentileSorted(latencies, 50),
    p99: percentileSorted(latencies, 99),
    failed: failed + result.errors + result.timeouts
  }
}

/**
 * Starts the servers and warms each up at 10 connections. The ceiling's body is sized on
 * (a)'s once warm; bodies are read once warm (fastify-metrics' route metrics, say, appear
 * with the first scrape).
 */
async function startServers () {
  const started = {}
  const start = async (server, args = []) => {
    const { child, message } = await forkChild(server.script, { args, until: 'ready', keep: true })
    started[server.key] = { ...server, child, port: message.port }
    log(`scrape throughput: ${server.label} listens on ${message.port}, warm-up ${CONFIG.warmupSec} s`)
    await cannon(message.port, 10, CONFIG.warmupSec)
    started[server.key].body = await fetchBody(message.port)
  }
  try {
    for (const server of SERVERS.slice(0, 3)) await start(server)
    await start(SERVERS[3], [String(started.plugin.body.bytes)])
    return started
  } catch (error) {
    for (const server of Object.values(started)) server.child.kill()
    throw error
  }
}

async function measureThroughput () {
  const servers = await startServers()
  try {
    const order = SERVERS.map((server) => servers[server.key])
    const rounds = {}
    for (const connections of CONNECTIONS) {
      for (let round = 1; round <= CONFIG.rounds; round++) {
        for (const server of order) {
          const cpuBefore = await serverCpu(server.child)
          const result = await cannon(server.port, connections, CONFIG.durationSec)
          const cpuMicros = await serverCpu(server.child) - cpuBefore
          result.cpuPerRequest = cpuMicros / result.responses
          ;((rounds[connections] ??= {})[server.key] ??= []).push(result)
          log(`scrape throughput: ${connections} conn, round ${round}/${CONFIG.rounds}, ${server.label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms${result.failed ? `, ${result.failed} FAILED` : ''}`)
        }
      }
    }
    // (a) as Prometheus 3 scrapes it (OpenMetrics, gzip), one connection; alternating with the others' rounds above.
    const prometheusCpu = []
    for (let round = 1; round <= CONFIG.rounds; round++) {
      const cpuBefore = await serverCpu(servers.plugin.child)
      const result = await cannon(servers.plugin.port, 1, CONFIG.durationSec, PROMETHEUS_REQUEST)
      prometheusCpu.push((await serverCpu(servers.plugin.child) - cpuBefore) / result.responses)
      log(`scrape throughput: Prometheus 3's request, 1 conn, round ${round}/${CONFIG.rounds}, (a): ${prometheusCpu.at(-1).toFixed(0)} µs per scrape`)
    }
    const summary = {}
    for (const connections of CONNECTIONS) {
      summary[connections] = {}
      for (const server of order) {
        const results = rounds[connections][server.key]
        summary[connections][server.key] = {
          rps: median(results.map((r) => r.rps)),
          p50: median(results.map((r) => r.p50)),
          p99: median(results.map((r) => r.p99)),
          cpuPerRequest: median(results.map((r) => r.cpuPerRequest)),
          failed: results.reduce((sum, r) => sum + r.failed, 0)
        }
      }
    }
    const bodies = Object.fromEntries(order.map((server) => [server.key, server.body]))
    return { summary, bodies, prometheusCpu: median(prometheusCpu) }
  } finally {
    for (const server of Object.values(servers)) server.child.kill()
  }
}

// ---------------------------------------------------------------------------------------
// 2-5. In-process measurements, each in child processes of its own

async function measureHotPath () {
  const rates = { tracker: [], 'prom-client': [] }
  for (let child = 0; child < CONFIG.hotChildren; child++) {
    for (const impl of ['tracker', 'prom-client']) {
      log(`hot path: ${impl}, process ${child + 1}/${CONFIG.hotChildren}`)
      const { message } = await forkChild('hot-path.mjs', { args: [impl, String(CONFIG.hotWarmupMs), String(CONFIG.hotRunMs), String(CONFIG.hotRuns)] })
      rates[impl].push(...message.rates)
    }
  }
  return { tracker: median(rates.tracker), promClient: median(rates['prom-client']) }
}

async function measureScrapeCost () {
  const results = {}
  for (const impl of ['plugin', 'prom-client']) {
    log(`scrape cost: ${impl}, ${CONFIG.scrapeIterations} scrapes at 0 and at ${LIVE_BUILDS} live builds`)
    results[impl] = (await forkChild('scrape-cost.mjs', { args: [impl, String(LIVE_BUILDS), String(CONFIG.scrapeIterations)] })).message
  }
  return { plugin: results.plugin, promClient: results['prom-client'] }
}

async function measureMemory () {
  const results = {}
  for (const impl of ['tracker', 'prom-client']) {
    log(`memory: ${impl}, ${LIVE_BUILDS} live builds`)
    results[impl] = (await forkChild('memory.mjs', { args: [impl, String(LIVE_BUILDS)], execArgv: ['--expose-gc'] })).message
  }
  return { tracker: results.tracker, promClient: results['prom-client'] }
}

async function measureEventLoop () {
  const results = {}
  for (const target of ['plugin-default', 'fastify-metrics', 'prom-client', 'plugin-large', 'prom-client-large']) {
    log(`event loop: ${target}, ${CONFIG.eventLoopScrapes} scrapes`)
    results[target] = (await forkChild('event-loop.mjs', { args: [target, String(CONFIG.eventLoopScrapes)] })).message
  }
  return results
}

/**
 * 6. What an idle app pays for its metrics: each server, scraped once and then left alone, its
 * CPU time over a quiet window, side by side in the same windows; the app alone is the base.
 * 7. The same servers scraped once a second with Prometheus 3's request: what an app pays at
 * Prometheus' pace (sped up from its 15-60 s), where every scrape finds the process idle and
 * its caches cold, and reads a second's worth of event-loop samples.
 */
async function measureIdle () {
  const idleServers = [...SERVERS.slice(0, 3), { key: 'bare', script: 'servers/bare.mjs', label: 'Fastify alone' }]
  const started = []
  try {
    for (const server of idleServers) {
      const { child, message } = await forkChild(server.script, { keep: true, until: 'ready' })
      started.push({ ...server, child, url: `http://127.0.0.1:${message.port}/metrics` })
      await (await fetch(started.at(-1).url)).text()
    }
    const windows = async (label, scrapeEverySecond) => {
      const perSecond = Object.fromEntries(idleServers.map((server) => [server.key, []]))
      for (let round = 1; round <= CONFIG.idleRounds; round++) {
        const before = await Promise.all(started.map((server) => serverCpu(server.child)))
        const start = performance.now()
        for (let second = 0; second < CONFIG.idleSec; second++) {
          await new Promise((resolve) => setTimeout(resolve, 1000))
          if (scrapeEverySecond) for (const server of started) await (await fetch(server.url, { headers: PROMETHEUS_REQUEST })).arrayBuffer()
        }
        const after = await Promise.all(started.map((server) => serverCpu(server.child)))
        const seconds = (performance.now() - start) / 1000
        started.forEach((server, index) => perSecond[server.key].push((after[index] - before[index]) / 1000 / seconds))
        log(`${label}: round ${round}/${CONFIG.idleRounds}: ${started.map((server) => `${server.key} ${perSecond[server.key].at(-1).toFixed(2)} ms/s`).join(', ')}`)
      }
      return Object.fromEntries(Object.entries(perSecond).map(([key, values]) => [key, median(values)]))
    }
    return { idle: await windows('idle', false), paced: await windows('scraped once a second', true) }
  } finally {
    for (const server of started) server.child.kill()
  }
}

// ---------------------------------------------------------------------------------------
// The table

const fmtInt = (value) => Math.round(value).toLocaleString('en-US')
const fmtMs = (value) => value.toFixed(3)
const fmtRatio = (value) => `${value.toFixed(2)}x`
const withRatio = (value, ours, format) => `${format(value)} (${fmtRatio(ours / value)})`
const verdict = (ok, detail) => `${ok ? 'PASS' : 'FAIL'} (${detail})`

function buildTable ({ throughput, hotPath, scrapeCost, memory, eventLoop, idle }) {
  const rows = []
  const row = (figure, ours, fm = '—', pc = '—', ceiling = '—', target = '', result = '') => rows.push([figure, ours, fm, pc, ceiling, target, result])
  const { summary, bodies, prometheusCpu } = throughput

  row('`/metrics` body: bytes / series', `${fmtInt(bodies.plugin.bytes)} / ${bodies.plugin.series}`, `${fmtInt(bodies.fastifyMetrics.bytes)} / ${bodies.fastifyMetrics.series}`, `${fmtInt(bodies.promClient.bytes)} / ${bodies.promClient.series}`, `${fmtInt(bodies.ceiling.bytes)} / —`)
  for (const connections of CONNECTIONS) {
    const s = summary[connections]
    const a = s.plugin
    const cells = (metric, format) => [withRatio(s.fastifyMetrics[metric], a[metric], format), withRatio(s.promClient[metric], a[metric], format), withRatio(s.ceiling[metric], a[metric], format)]
    // Issue 15's targets at 1 connection (how Prometheus scrapes), issue 8's at 10.
    const [minFm, minPc] = connections === 1 ? [3.5, 2.2] : [2, 1.5]
    const vsFm = a.rps / s.fastifyMetrics.rps
    const vsPc = a.rps / s.promClient.rps
    row(`1. scrapes/s, ${connections} conn`, fmtInt(a.rps), ...cells('rps', fmtInt), `>= ${minFm}x (b); >= ${minPc}x (c)`, `${verdict(vsFm >= minFm, fmtRatio(vsFm))}; ${verdict(vsPc >= minPc, fmtRatio(vsPc))}`)
    row(`1. latency p50, ms, ${connections} conn`, fmtMs(a.p50), ...cells('p50', fmtMs))
    row(`1. latency p99, ms, ${connections} conn`, fmtMs(a.p99), ...cells('p99', fmtMs))
    if (connections === 1) row(`1. server CPU per scrape, µs, ${connections} conn`, fmtInt(a.cpuPerRequest), ...cells('cpuPerRequest', fmtInt), '<= 350 µs', verdict(a.cpuPerRequest <= 350, `${fmtInt(a.cpuPerRequest)} µs`))
    else row(`1. server CPU per scrape, µs, ${connections} conn`, fmtInt(a.cpuPerRequest), ...cells('cpuPerRequest', fmtInt))
  }

  row('1. server CPU per scrape, µs, Prometheus 3\'s request (OpenMetrics, gzip), 1 conn', fmtInt(prometheusCpu), '—', '—', '—', '<= 700 µs', verdict(prometheusCpu <= 700, `${fmtInt(prometheusCpu)} µs`))

  const hot = hotPath.tracker / hotPath.promClient
  row('2. build cycles/s (start, 4 setStage, finish)', fmtInt(hotPath.tracker), '—', withRatio(hotPath.promClient, hotPath.tracker, fmtInt), '—', '>= 2x (c)', verdict(hot >= 2, fmtRatio(hot)))

  const p = scrapeCost.plugin
  const q = scrapeCost.promClient
  row(`3. scrape ms, 0 live builds (${p.empty.series} / ${q.empty.series} series)`, fmtMs(p.empty.ms), '—', withRatio(q.empty.ms, p.empty.ms, fmtMs))
  row(`3. scrape ms, ${fmtInt(LIVE_BUILDS)} live (${p.live.series} / ${q.live.series} series)`, fmtMs(p.live.ms), '—', withRatio(q.live.ms, p.live.ms, fmtMs))
  row(`3. scrape ms, 0 live after ${fmtInt(LIVE_BUILDS)} finished (${p.drained.series} / ${q.drained.series} series)`, fmtMs(p.drained.ms), '—', withRatio(q.drained.ms, p.drained.ms, fmtMs))
  const growth = p.live.ms / p.empty.ms
  row(`3. scrape time ${fmtInt(LIVE_BUILDS)} live ÷ 0 live`, fmtRatio(growth), '—', fmtRatio(q.live.ms / q.empty.ms), '—', '<= 1.2x', verdict(growth <= 1.2, fmtRatio(growth)))

  const bytes = memory.tracker.bytesPerBuild
  const usual = memory.promClient.bytesPerBuild
  row(`4. heap bytes per live build at ${fmtInt(LIVE_BUILDS)}: ours vs a Map of live builds + labeled gauges`, fmtInt(bytes), '—', withRatio(usual, bytes, fmtInt), '—', '<= (c)', verdict(bytes <= usual, fmtRatio(bytes / usual)))

  const el = (result) => `${fmtMs(result.medianMs)} / ${fmtMs(result.p99Ms)}`
  const elRatio = (theirs, ours) => `${el(theirs)} (${fmtRatio(ours.medianMs / theirs.medianMs)})`
  const d = eventLoop['plugin-default']
  row(`5. longest loop block per scrape, ms p50 / p99, default output (${fmtInt(d.bytes)} B)`, el(d), elRatio(eventLoop['fastify-metrics'], d), elRatio(eventLoop['prom-client'], d))
  const l = eventLoop['plugin-large']
  row(`5. longest loop block per scrape, ms p50 / p99, large output (100 runners, ${fmtInt(l.series)} series, ${fmtInt(l.bytes)} B)`, el(l), '—', elRatio(eventLoop['prom-client-large'], l))

  const added = (key) => idle.idle[key] - idle.idle.bare
  const idleRatio = added('plugin') / added('promClient')
  row('6. idle CPU added to an app, ms per s (app alone: ceiling column)', fmtMs(added('plugin')), withRatio(added('fastifyMetrics'), added('plugin'), fmtMs), withRatio(added('promClient'), added('plugin'), fmtMs), fmtMs(idle.idle.bare), '<= 0.25x (c)', verdict(idleRatio <= 0.25, fmtRatio(idleRatio)))
  const paced = (key) => idle.paced[key] - idle.paced.bare
  row('7. CPU added to an app scraped once a second (Prometheus 3\'s request), ms per s (app alone: ceiling column)', fmtMs(paced('plugin')), withRatio(paced('fastifyMetrics'), paced('plugin'), fmtMs), withRatio(paced('promClient'), paced('plugin'), fmtMs), fmtMs(idle.paced.bare))

  const header = ['figure', 'this project', 'fastify-metrics', 'prom-client †', 'ceiling', 'target', 'result']
  const line = (cells) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------

async function main () {
  const stale = checkBuild()
  const started = performance.now()
  const cpus = os.cpus()
  const out = []
  out.push(`# fastify-runner-metrics benchmark${QUICK ? ' (--quick)' : ''}`, '')
  out.push(`- machine: ${cpus[0]?.model?.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()} ${os.arch()}`)
  out.push(`- Node.js ${process.version}; fastify ${versionOf('fastify')}, fastify-metrics ${versionOf('fastify-metrics')}, prom-client ${versionOf('prom-client')}, autocannon ${versionOf('autocannon')}`)
  out.push(`- measured: dist/ of ${gitRevision()}${stale.length > 0 ? `; WARNING: dist/ is older than ${stale.join(', ')} (run npx tsc -p .)` : ''}`)
  out.push(`- scrapes: ${CONFIG.rounds} rounds x ${CONFIG.durationSec} s per server and connection count (servers alternate a, b, c, d), medians of rounds; loopback, autocannon in the parent, each server in its own process`)
  if (stale.length > 0) log(`WARNING: dist/ is older than ${stale.join(', ')}; run npx tsc -p .`)

  const busyBefore = await cpuBusy(1000)
  const timed = async (name, measure) => {
    const start = performance.now()
    const result = await measure()
    log(`${name}: done in ${((performance.now() - start) / 1000).toFixed(1)} s`)
    return result
  }
  const hotPath = await timed('hot path', measureHotPath)
  const scrapeCost = await timed('scrape cost', measureScrapeCost)
  const memory = await timed('memory', measureMemory)
  const eventLoop = await timed('event loop', measureEventLoop)
  const throughput = await timed('scrape throughput', measureThroughput)
  const idle = await timed('idle', measureIdle)

  const failed = Object.values(throughput.summary).flatMap((bySrv) => Object.entries(bySrv).filter(([, s]) => s.failed > 0).map(([key, s]) => `${key}: ${s.failed}`))
  const busy = busyBefore > 0.1 ? ' (WARNING: other processes were using the CPU at the start; they compete with the benchmark and make it noisy)' : ''
  out.push(`- wall time: ${((performance.now() - started) / 1000).toFixed(0)} s; CPU busy before the start: ${(busyBefore * 100).toFixed(0)}% of ${cpus.length} cores${busy}${failed.length > 0 ? `; WARNING: failed requests (${failed.join(', ')})` : ''}`, '')
  out.push(buildTable({ throughput, hotPath, scrapeCost, memory, eventLoop, idle }), '')
  out.push(
    'Ratios in parentheses: this project ÷ that column (above 1 is better for scrapes/s and cycles/s, below 1 for ms, µs and bytes).',
    '† prom-client: in row 1 and the default output of row 5, `collectDefaultMetrics` on a private Registry (row 1: served by node:http;',
    '  row 5: by a plain Fastify route). In rows 2-4 and the large output of row 5, the same build bookkeeping done the usual way: a Map of',
    '  live builds, a labeled Gauge runner_builds{runner,state,stage}, Counters started{runner}, finished{runner,state},',
    '  failures{runner,failure_reason} and a Histogram duration{runner}, updated on every event (rows 3 and 5 add default metrics).',
    'Row 1: autocannon with no Accept-Encoding (identity, as every target), except the row of Prometheus 3\'s request (its Accept header and gzip, (a) only); latency percentiles from every response at µs resolution;',
    '  server CPU = user+system time of the server process over a round ÷ responses; medians of rounds.',
    'Row 3: one app.inject of /metrics (each app\'s own route), default metrics on, 10 runners, builds spread over pending and 5 stages; the',
    '  three states are instances side by side in one process, scraped in turn, each first given every series (a few builds through every',
    '  stage and final state), so that only the live builds differ; series: this project / prom-client.',
    'Row 4: builds referenced by the tracker (or the Map) only, numeric ids, 1 in 6 pending and the rest in stages 1-5; gc before and after.',
    'Row 5: a setImmediate ticker in the scraping process; per scrape, the longest gap around one app.inject of /metrics.',
    'Row 6: servers (a), (b), (c) and Fastify alone, each scraped once and then idle; CPU time (user+system) over the same windows,',
    '  minus Fastify alone\'s; medians of rounds. (a) samples the event loop every 100 ms by default, prom-client every 10 ms.',
    'Row 7: the same servers in the same way, each scraped once a second with Prometheus 3\'s request (Fastify alone too: its answer is',
    '  a short string), so every scrape finds a cold, idle process: idle cost and scrape cost together, at a faster pace than Prometheus\'.'
  )
  process.stdout.write(out.join('\n') + '\n')
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error?.stack ?? error}\n`)
  process.exit(1)
})

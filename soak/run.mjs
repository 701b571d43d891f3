// npm run soak: a runner manager embedding the metrics server under load for a fixed time.
// 1,000,000 build events through the tracker, a config reload every 5 s alternating two
// addresses, and 200 concurrent scrapers in another process. Loopback only; stops by itself.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import os from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { BUILTIN_STAGES, FAILURE_REASONS, FINAL_STATES } from '../dist/index.js'
import { startMetricsServer } from '../dist/server/index.js'

const quick = process.argv.includes('--quick')
const DURATION_MS = quick ? 12_000 : 60_000
const EVENTS = quick ? 200_000 : 1_000_000
const SCRAPERS = 200
const RELOAD_MS = 5_000
// The plugin's default: no in-flight limit, since overlapping scrapes share one collection.
const MAX_IN_FLIGHT = 0
const RUNNERS = Array.from({ length: 8 }, (_, index) => ({ name: `runner-${index}`, limit: 50 }))
const STAGES = ['prepare_executor', 'get_sources', 'restore_cache', 'step_script', 'archive_cache']

async function freePort () {
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const { port } = probe.address()
  probe.close()
  return port
}

const port = await freePort()
const addresses = [`127.0.0.1:${port}`, `127.0.0.2:${port}`]
const configFor = (index) => ({ metrics_server: addresses[index], concurrent: 400, log_level: 'warn', runners: RUNNERS })

const rssStart = process.memoryUsage().rss
const server = await startMetricsServer({ config: configFor(0), maxScrapesInFlight: MAX_IN_FLIGHT })
const { tracker } = server
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()

const scrapers = fork(new URL('./scrapers.mjs', import.meta.url), [JSON.stringify({ urls: addresses.map((address) => `http://${address}/metrics`), concurrency: SCRAPERS, durationMs: DURATION_MS })])
const scraped = new Promise((resolve) => scrapers.on('message', (message) => message.done && resolve(message.done)))

// The driver's own tally, to compare with what /metrics says at the end.
const tally = { events: 0, started: {}, finished: {}, failures: {} }
const bump = (table, key) => { table[key] = (table[key] ?? 0) + 1 }
const live = []
let nextId = 0
let reloads = 0
let reloadFailures = 0
let which = 0

function oneEvent () {
  tally.events++
  const pick = Math.random()
  if (live.length < 50 || (pick < 0.2 && live.length < 5000)) {
    const runner = RUNNERS[nextId % RUNNERS.length].name
    live.push({ build: tracker.start({ id: nextId++, runner }), stage: 0 })
    bump(tally.started, runner)
    return
  }
  const index = Math.floor(Math.random() * live.length)
  const entry = live[index]
  if (entry.stage < STAGES.length) {
    entry.build.setStage(STAGES[entry.stage++])
    return
  }
  const state = FINAL_STATES[Math.floor(Math.random() * FINAL_STATES.length)]
  const failureReason = state === 'failed' ? FAILURE_REASONS[Math.floor(Math.random() * FAILURE_REASONS.length)] : undefined
  entry.build.finish({ state, failureReason })
  bump(tally.finished, `${entry.build.runner} ${state}`)
  if (failureReason) bump(tally.failures, `${entry.build.runner} ${failureReason}`)
  live[index] = live[live.length - 1]
  live.pop()
}

const started = Date.now()
const reloader = setInterval(async () => {
  which = 1 - which
  const result = await server.reload(configFor(which))
  if (result.ok) {
    reloads++
  } else {
    reloadFailures++
  }
}, RELOAD_MS)

// Spread the events over the run, a batch per turn of the event loop, as builds arrive.
await new Promise((resolve) => {
  const drive = () => {
    const due = Math.min(EVENTS, Math.ceil(EVENTS * (Date.now() - started) / (DURATION_MS * 0.9)))
    while (tally.events < due) oneEvent()
    if (tally.events >= EVENTS) resolve()
    else setImmediate(drive)
  }
  drive()
})
const counts = await scraped
clearInterval(reloader)
loop.disable()
await new Promise((resolve) => setTimeout(resolve, 200))

const metrics = (await server.app.inject('/metrics')).body
const value = (series) => {
  const line = metrics.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}
let mismatches = 0
const check = (what, actual, expected) => {
  if (actual === expected) return
  mismatches++
  console.error(`${what}: /metrics says ${actual}, the driver counted ${expected}`)
}
for (const { name } of RUNNERS) {
  check(`started on ${name}`, value(`runner_builds_started_total{runner="${name}"}`), tally.started[name] ?? 0)
  for (const state of FINAL_STATES) check(`${state} on ${name}`, value(`runner_builds_finished_total{runner="${name}",state="${state}"}`), tally.finished[`${name} ${state}`] ?? 0)
  for (const reason of FAILURE_REASONS) check(`${reason} on ${name}`, value(`runner_build_failures_total{runner="${name}",failure_reason="${reason}"}`), tally.failures[`${name} ${reason}`] ?? 0)
  let gauge = 0
  for (const state of ['pending', 'running']) for (const stage of ['none', ...BUILTIN_STAGES]) gauge += value(`runner_builds{runner="${name}",state="${state}",stage="${stage}"}`)
  check(`live on ${name}`, gauge, live.filter((entry) => entry.build.runner === name).length)
}
const rssEnd = process.memoryUsage().rss
await server.close()

const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const otherStatuses = Object.entries(counts.other).map(([code, count]) => `${code}: ${count}`).join(', ') || '0'
console.log(`
Soak: ${(DURATION_MS / 1000).toFixed(0)} s on ${os.cpus()[0].model} (${os.cpus().length} cores), Node ${process.version}

| figure | value |
|---|---|
| build events driven | ${tally.events.toLocaleString('en')} (${nextId.toLocaleString('en')} builds, ${live.length} still live) |
| config reloads (address flips) | ${reloads}, ${reloadFailures} failed |
| scrapes served (200) | ${counts.served.toLocaleString('en')} (${(counts.served / (DURATION_MS / 1000)).toFixed(0)}/s, ${mb(counts.bytes)}) |
| 503 from the in-flight limit (${MAX_IN_FLIGHT === 0 ? 'none set' : MAX_IN_FLIGHT}) | ${counts.limited.toLocaleString('en')} |
| other non-2xx | ${otherStatuses} |
| scrapes retried on the other address at a flip | ${counts.retried} (${counts.failed} failed after the retries: ${JSON.stringify(counts.failures)}) |
| event-loop delay p99 / max | ${(loop.percentile(99) / 1e6).toFixed(1)} ms / ${(loop.max / 1e6).toFixed(1)} ms |
| RSS start -> end | ${mb(rssStart)} -> ${mb(rssEnd)} |
| final counts vs the driver's tally | ${mismatches === 0 ? 'all equal' : `${mismatches} mismatches`} |
`)
// Connections refused or reset around a flip are reported, not failed on: a connection still in the
// old listener's accept queue when it closes is reset, as with any server that stops listening.
process.exitCode = mismatches === 0 && Object.keys(counts.other).length === 0 && reloadFailures === 0 ? 0 : 1

// The largest output the tracker allows: as many runners as it accepts, each with names of
// NAME_LENGTH characters, every stage observed, every API endpoint with STATUSES statuses.
// usage: node bench/cardinality.mjs [NAME_LENGTH=256] [NAMING=runner] [CHAR=ラ] [STATUSES=7] [RUNNERS=1000]
//
// It prints what a scrape of that tracker costs: bytes, the time of app.inject('/metrics')
// (the rendering is synchronous: about that long the event loop is held), and the process' RSS. A
// measurement, not a test: it never fails on a figure.
import Fastify from 'fastify'
import runnerMetrics, { API_ENDPOINTS, BUILTIN_STAGES, BuildTracker } from 'fastify-runner-metrics'

const nameLength = Number(process.argv[2] ?? 256)
const naming = process.argv[3] ?? 'runner'
// A character of three UTF-8 bytes and one UTF-16 unit: the most bytes a name of a given length can take.
const fill = process.argv[4] ?? 'ラ'
const statuses = [200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 502, 503].slice(0, Number(process.argv[5] ?? 7))
const maxRunners = Number(process.argv[6] ?? 1000)

const tracker = new BuildTracker({ maxRunners })
const app = Fastify()
await app.register(runnerMetrics, { tracker, naming })
await app.ready()

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`
const refused = (error) => /TOO_MANY_RUNNERS|OUTPUT_BUDGET/.test(error.code)
let runners = 0
let id = 0
const fillStart = performance.now()
for (; runners < tracker.maxRunners; runners++) {
  const runner = `${runners}-`.padEnd(nameLength, fill)
  let build
  try {
    build = tracker.start({ id: ++id, runner, queueSeconds: 1 })
  } catch (error) {
    if (refused(error)) break
    throw error
  }
  for (const stage of BUILTIN_STAGES) build.setStage(stage)
  build.finish({ state: 'success' })
  for (const endpoint of API_ENDPOINTS) for (const status of statuses) tracker.apiRequest({ runner, endpoint, status, seconds: 0.3 })
}
const fillMs = performance.now() - fillStart

// The first scrape makes every series' labels; a later one after a build and API requests on
// one runner rewrites every family's text (each has a changed value); an idle one reuses them.
const firstRunner = '0-'.padEnd(nameLength, fill)
function touch () {
  const build = tracker.start({ id: ++id, runner: firstRunner, queueSeconds: 1 })
  for (const stage of BUILTIN_STAGES) build.setStage(stage)
  build.finish({ state: 'failed', failureReason: 'script_failure' })
  for (const endpoint of API_ENDPOINTS) for (const status of statuses.slice(0, 1)) tracker.apiRequest({ runner: firstRunner, endpoint, status, seconds: 0.3 })
}
const scrapes = {}
let bytes = 0
const rounds = [['first', () => {}], ...Array.from({ length: 6 }, () => [['changed', touch], ['unchanged', () => {}]]).flat()]
for (const [round, before] of rounds) {
  before()
  const start = performance.now()
  const response = await app.inject('/metrics')
  ;(scrapes[round] ??= []).push(Math.round(performance.now() - start))
  if (response.statusCode !== 200) throw new Error(`scrape answered ${response.statusCode}`)
  bytes = Buffer.byteLength(response.body)
}
const refusedLine = (await app.inject('/metrics')).body.split('\n').filter((line) => /series_refused_total\{/.test(line)).join('; ')
console.log(JSON.stringify({
  nameLength,
  nameBytes: Buffer.byteLength(`${runners}-`.padEnd(nameLength, fill)),
  naming,
  statuses: statuses.length,
  runners,
  chargedBytes: tracker.usedOutputBytes,
  fillMs: Math.round(fillMs),
  body: mib(bytes),
  bodyBytes: bytes,
  // The first scrape; medians of six rounds of the others, and their range.
  scrapeMs: Object.fromEntries(Object.entries(scrapes).map(([round, ms]) => [round, ms.length === 1 ? ms[0] : `${median(ms)} (${Math.min(...ms)}-${Math.max(...ms)})`])),
  rss: mib(process.memoryUsage().rss),
  heapUsed: mib(process.memoryUsage().heapUsed),
  refused: refusedLine || undefined
}))
await app.close()

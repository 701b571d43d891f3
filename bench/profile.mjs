// CPU profile of one bench server under scrape load, summarised: where a scrape's CPU goes.
// A diagnostic for `node bench/run.mjs`'s first row, not part of its table.
//
//   node bench/profile.mjs [plugin|fastify-metrics|prom-client] [SECONDS] [CONNECTIONS]
//
// The server runs with --cpu-prof under autocannon; its profile is attributed by source:
// time in native code (a /proc read, a histogram walk) goes to the JS function that called it.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { forkChild } from './common.mjs'

const OWN_DIST = new URL('../dist/', import.meta.url).href
const [name = 'plugin', seconds = '5', connections = '10'] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'))

const { child, message } = await forkChild(`servers/${name}.mjs`, { until: 'ready', keep: true, execArgv: ['--cpu-prof', '--cpu-prof-dir', dir] })
const result = await autocannon({ url: `http://127.0.0.1:${message.port}/metrics`, connections: Number(connections), duration: Number(seconds) })
await new Promise((resolve) => { child.once('exit', resolve); child.disconnect() })
const file = readdirSync(dir).find((entry) => entry.endsWith('.cpuprofile'))
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'))
rmSync(dir, { recursive: true, force: true })

const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const parents = new Map()
for (const node of profile.nodes) for (const childId of node.children ?? []) parents.set(childId, node.id)

/** The node itself when it is JS with a source, else its closest such ancestor. */
function owner (node) {
  let current = node
  while (current && current.callFrame.url === '' && !current.callFrame.functionName.startsWith('(')) current = nodes.get(parents.get(current.id))
  return current ?? node
}

function category ({ url, functionName }) {
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(idle)') return 'idle'
  if (functionName === '(program)') return 'V8/native, unattributed'
  if (url.includes('/prom-client/lib/metrics/')) return `prom-client default metric: ${url.split('/').pop()}`
  if (url.includes('/prom-client/')) return 'prom-client registry, metric objects and text formatting'
  if (url.includes('/fastify-metrics/')) return 'fastify-metrics route timers'
  if (url.startsWith(OWN_DIST)) return `this plugin: ${url.slice(OWN_DIST.length)}`
  if (url.includes('/negotiator/')) return 'negotiator (content negotiation)'
  if (/node_modules\/(fastify|ajv|find-my-way|avvio|light-my-request|fast-json-stringify|@fastify|fast-querystring|toad-cache|process-warning|abstract-logging|pino|rfdc|secure-json-parse|fast-uri|json-schema-ref-resolver)/.test(url)) return 'fastify'
  if (url.startsWith('node:internal/perf') || url.includes('perf_hooks')) return 'node: perf_hooks'
  if (url.startsWith('node:') || url.startsWith('internal/')) return `node: ${url.replace(/^node:(internal\/)?/, '').split('/')[0]}`
  return url || functionName
}

const selfByCategory = new Map()
const selfByFunction = new Map()
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const delta = profile.timeDeltas[i] ?? 0
  const node = owner(nodes.get(profile.samples[i]))
  const frame = node.callFrame
  if (frame.functionName === '(idle)') continue
  total += delta
  const cat = category(frame)
  selfByCategory.set(cat, (selfByCategory.get(cat) ?? 0) + delta)
  const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(OWN_DIST, 'dist/')}:${frame.lineNumber + 1}`
  selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + delta)
}

const requests = result.requests.total
const share = (micros) => `${(micros / total * 100).toFixed(1)}%`
const perScrape = (micros) => `${(micros / requests).toFixed(1)} µs`
console.log(`${name}: ${requests} scrapes in ${seconds} s at ${connections} connections; ${(total / 1000).toFixed(0)} ms of busy CPU sampled, ${perScrape(total)} per scrape\n`)
console.log('| where (self time; natives go to their JS caller) | share | per scrape |')
console.log('| --- | --- | --- |')
for (const [cat, micros] of [...selfByCategory].sort((a, b) => b[1] - a[1]).filter(([, micros]) => micros / total >= 0.002)) console.log(`| ${cat} | ${share(micros)} | ${perScrape(micros)} |`)
console.log('\ntop functions:')
for (const [key, micros] of [...selfByFunction].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${share(micros).padStart(6)}  ${perScrape(micros).padStart(9)}  ${key}`)

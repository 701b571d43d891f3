// Where one scrape of this plugin's default output goes: each registered metric's collection
// and formatting timed on its own, the whole registry.metrics(), and the route around it.
// A diagnostic for `node bench/run.mjs`'s first row, not part of its table.
//
//   node bench/breakdown.mjs [ITERATIONS]
import Fastify from 'fastify'
import * as promClient from 'prom-client'
import runnerMetrics from 'fastify-runner-metrics'
import { median, nextTurn } from './common.mjs'

const iterations = Number(process.argv[2] ?? 2000)

async function timeIt (work) {
  const times = []
  for (let i = 0; i < 100; i++) await work()
  for (let i = 0; i < iterations; i++) {
    await nextTurn()
    const start = performance.now()
    await work()
    times.push(performance.now() - start)
  }
  return median(times) * 1000
}

const app = Fastify()
await app.register(runnerMetrics, { runners: [{ name: 'docker-1', limit: 4 }], concurrent: 4, maxScrapesInFlight: 0 })
app.get('/static', async (request, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(staticBody))
await app.ready()
const registry = app.runnerRegistry
const staticBody = await registry.metrics()

// The same runtime metrics, as prom-client alone serves them.
const bare = new promClient.Registry()
promClient.collectDefaultMetrics({ register: bare })

const rows = []
for (const metric of registry.getMetricsAsArray()) {
  const collect = await timeIt(() => metric.get())
  const collectAndFormat = await timeIt(() => registry.getMetricsAsString(metric))
  rows.push({ name: metric.name, ours: metric.constructor.name === 'ScrapeTimeMetric', collect, collectAndFormat })
}
rows.sort((a, b) => b.collectAndFormat - a.collectAndFormat)

const whole = await timeIt(() => registry.metrics())
const bareWhole = await timeIt(() => bare.metrics())
const injectMetrics = await timeIt(() => app.inject('/metrics'))
const injectStatic = await timeIt(() => app.inject('/static'))
const sum = (filter) => rows.filter(filter).reduce((total, row) => total + row.collectAndFormat, 0)

const line = (cells) => `| ${cells.join(' | ')} |`
const us = (value) => value.toFixed(1)
console.log(`median µs over ${iterations} runs, each on its own event-loop turn (Node.js ${process.version})\n`)
console.log(line(['metric', 'kind', 'get() µs', 'get() + format µs']))
console.log(line(['---', '---', '---', '---']))
for (const row of rows) console.log(line([row.name, row.ours ? 'this plugin' : 'prom-client default', us(row.collect), us(row.collectAndFormat)]))
console.log()
console.log(`sum, this plugin's collectors:        ${us(sum((row) => row.ours))} µs`)
console.log(`sum, prom-client's default metrics:   ${us(sum((row) => !row.ours))} µs`)
console.log(`registry.metrics(), whole:            ${us(whole)} µs (${registry.getMetricsAsArray().length} metrics, ${Buffer.byteLength(staticBody)} bytes)`)
console.log(`bare prom-client default registry:    ${us(bareWhole)} µs`)
console.log(`app.inject('/metrics'):               ${us(injectMetrics)} µs`)
console.log(`app.inject of the same body, prebuilt: ${us(injectStatic)} µs (Fastify + light-my-request alone)`)

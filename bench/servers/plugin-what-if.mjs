// (a) with suggested lib/ changes applied from outside, to size their effect before making them.
// usage: node bench/servers/plugin-what-if.mjs FLAGS   (comma-separated, may be empty)
//   lag       nodejs_eventloop_lag_*: a small histogram (1 µs .. 100 s, 1 significant figure)
//             fed by a 10 ms sampler, instead of the stats of monitorEventLoopDelay's
//             histogram (prom-client walks its ~55,000 buckets 5 times per scrape)
//   render    text rendering by a lean formatter (same bytes as prom-client's) instead of
//             Registry.metrics()' formatLabels/flattenSharedLabels/escapeString
//   nodefault defaultMetrics: false (what all the runtime metrics cost together)
import { createHistogram } from 'node:perf_hooks'
import Fastify from 'fastify'
import runnerMetrics from 'fastify-runner-metrics'
import { announce, fail } from './announce.mjs'

const flags = new Set((process.argv[2] ?? '').split(',').filter(Boolean))

function cheapEventLoopLag (registry) {
  const histogram = createHistogram({ lowest: 1, highest: 1e8, figures: 1 })
  let expected = performance.now() + 10
  setInterval(() => {
    const now = performance.now()
    histogram.record(Math.max(1, Math.round((now - expected) * 1000)))
    expected = now + 10
  }, 10).unref()
  const gauge = (stat) => registry.getSingleMetric(`nodejs_eventloop_lag_${stat}_seconds`)
  const [min, max, mean, stddev, p50, p90, p99] = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map(gauge)
  const lag = registry.getSingleMetric('nodejs_eventloop_lag_seconds')
  lag.collect = () => {
    const start = process.hrtime.bigint()
    setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / 1e9))
    min.set(histogram.min / 1e6)
    max.set(histogram.max / 1e6)
    mean.set(histogram.mean / 1e6)
    stddev.set(histogram.stddev / 1e6)
    p50.set(histogram.percentile(50) / 1e6)
    p90.set(histogram.percentile(90) / 1e6)
    p99.set(histogram.percentile(99) / 1e6)
    histogram.reset()
  }
}

const valueText = (value) => Number.isNaN(value) ? 'Nan' : !Number.isFinite(value) ? (value < 0 ? '-Inf' : '+Inf') : String(value)
const NEEDS_ESCAPE = /[\\\n"]/
const escapeLabel = (value) => typeof value === 'string' && NEEDS_ESCAPE.test(value) ? value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : value
const escapeHelp = (text) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')

/** One metric as prom-client's Registry.getMetricsAsString writes it (text format, no default labels). */
async function formatMetric (metric) {
  const { name, help, type, values } = typeof metric.getForPromString === 'function' ? await metric.getForPromString() : await metric.get()
  let out = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}`
  for (const sample of values) {
    const shared = sample.sharedLabels
    let labels = ''
    for (const key in sample.labels) {
      if (shared === undefined || !(key in shared)) labels += `${labels === '' ? '' : ','}${key}="${escapeLabel(sample.labels[key])}"`
    }
    if (shared !== undefined) for (const key in shared) labels += `${labels === '' ? '' : ','}${key}="${escapeLabel(shared[key])}"`
    out += `\n${sample.metricName ?? name}${labels === '' ? '' : `{${labels}}`} ${valueText(sample.value)}`
  }
  return out
}

function leanRender (registry) {
  registry.metrics = async function metrics () {
    return `${(await Promise.all(this.getMetricsAsArray().map(formatMetric))).join('\n\n')}\n`
  }
}

try {
  const app = Fastify()
  await app.register(runnerMetrics, { runners: [{ name: 'docker-1', limit: 4 }], concurrent: 4, maxScrapesInFlight: 0, defaultMetrics: !flags.has('nodefault') })
  if (flags.has('lag') && !flags.has('nodefault')) cheapEventLoopLag(app.runnerRegistry)
  if (flags.has('render')) leanRender(app.runnerRegistry)
  await app.listen({ host: '127.0.0.1', port: 0 })
  announce(app.server.address().port)
} catch (error) {
  fail(error)
}

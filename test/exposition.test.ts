import { Counter, Gauge, Histogram, Registry, Summary } from 'prom-client'
import t from 'tap'
import { registerFamily, type Sample } from '../lib/plugin/collectors/scrape-time-metric.js'
import { OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render } from '../lib/plugin/exposition.js'
import { NO_LABELS, reusedLabels } from '../lib/plugin/text-format.js'
import { appWith } from './helpers.js'

type ContentType = typeof TEXT_CONTENT_TYPE | typeof OPENMETRICS_CONTENT_TYPE

/** The same registry, built afresh: this package's families and a user's metrics side by side. */
function build (contentType: ContentType, defaultLabels?: Record<string, string>): Registry {
  const registry = new Registry(contentType as never)
  if (defaultLabels !== undefined) registry.setDefaultLabels(defaultLabels)
  registerFamily(registry, { name: 'ours_builds', help: 'Help with a \\ backslash\nand a newline.', type: 'gauge', read: () => [{ labels: { runner: 'a "quoted"\\path\nline', state: 'running' }, value: 3 }, { labels: { runner: 'plain', state: 'pending' }, value: 0.5 }] })
  registerFamily(registry, { name: 'ours_events_total', help: 'A counter.', type: 'counter', read: async () => [{ labels: { env: 'x' }, value: 7 }, { labels: {}, value: 1e21 }] })
  registerFamily(registry, { name: 'ours_odd', help: 'Odd values.', type: 'gauge', read: () => [{ labels: { k: 1 }, value: Number.NaN }, { labels: { k: 2 }, value: Infinity }, { labels: { k: 3 }, value: -Infinity }, { labels: { k: 4 }, value: -0.000001 }] })
  registerFamily(registry, {
    name: 'ours_seconds',
    help: 'A histogram.',
    type: 'histogram',
    read: () => [
      { metricName: 'ours_seconds_bucket', labels: { runner: 'r', le: 1 }, value: 1 },
      { metricName: 'ours_seconds_bucket', labels: { runner: 'r', le: '+Inf' }, value: 2 },
      { metricName: 'ours_seconds_sum', labels: { runner: 'r' }, value: 3.5 },
      { metricName: 'ours_seconds_count', labels: { runner: 'r' }, value: 2 }
    ]
  })
  registerFamily(registry, { name: 'ours_empty', help: 'No samples.', type: 'gauge', read: () => [] })
  new Counter({ name: 'user_requests_total', help: 'Requests.', labelNames: ['code'], registers: [registry] }).inc({ code: '200' }, 4)
  new Counter({ name: 'user_plain', help: 'A counter not ending in total.', registers: [registry] }).inc()
  new Gauge({ name: 'user_temperature', help: 'Temp.', labelNames: ['room', 'env'], registers: [registry] }).set({ room: 'k"1"' }, 21.5)
  new Histogram({ name: 'user_latency_seconds', help: 'Latency.', buckets: [0.1, 1], labelNames: ['route'], registers: [registry] }).observe({ route: '/' }, 0.5)
  new Summary({ name: 'user_sizes', help: 'Sizes.', percentiles: [0.5], registers: [registry] }).observe(10)
  return registry
}

t.test('the same bytes as prom-client\'s own rendering of the same registry: text and OpenMetrics, user metrics and default labels beside ours', async (t) => {
  for (const defaultLabels of [undefined, { instance_group: 'blue', env: 'prod' }]) {
    const label = defaultLabels === undefined ? 'no default labels' : 'default labels'
    t.equal(await render(build(TEXT_CONTENT_TYPE, defaultLabels), TEXT_CONTENT_TYPE), await build(TEXT_CONTENT_TYPE, defaultLabels).metrics(), `text, ${label}`)
    t.equal(await render(build(TEXT_CONTENT_TYPE, defaultLabels), OPENMETRICS_CONTENT_TYPE), await build(OPENMETRICS_CONTENT_TYPE, defaultLabels).metrics(), `OpenMetrics from a text registry, ${label}`)
    t.equal(await render(build(OPENMETRICS_CONTENT_TYPE, defaultLabels), TEXT_CONTENT_TYPE), await build(TEXT_CONTENT_TYPE, defaultLabels).metrics(), `text from an OpenMetrics registry, ${label}`)
    t.equal(await render(build(OPENMETRICS_CONTENT_TYPE, defaultLabels), OPENMETRICS_CONTENT_TYPE), await build(OPENMETRICS_CONTENT_TYPE, defaultLabels).metrics(), `OpenMetrics from an OpenMetrics registry, ${label}`)
  }
  const registry = build(TEXT_CONTENT_TYPE)
  await render(registry, OPENMETRICS_CONTENT_TYPE)
  t.equal(await render(registry, TEXT_CONTENT_TYPE), await build(TEXT_CONTENT_TYPE).metrics(), 'rendering OpenMetrics changed nothing in the registry')
})

t.test('the plugin\'s whole default output, as prom-client writes the same registry', async (t) => {
  const app = await appWith({ defaultMetrics: false, runners: [{ name: 'docker-1', limit: 4 }], concurrent: 4 })
  t.teardown(() => app.close())
  app.builds.start({ id: 1, runner: 'docker-1' }).setStage('step_script')
  app.builds.start({ id: 2, runner: 'docker-1' }).finish({ state: 'failed', failureReason: 'script_failure' })
  t.equal(await render(app.runnerRegistry, TEXT_CONTENT_TYPE), await app.runnerRegistry.metrics())
})

t.test('labels a user changes in what getMetricsAsJSON or a metric\'s get() hands out change no later scrape', async (t) => {
  const app = await appWith({ runners: [{ name: 'docker-1' }], concurrent: 4 })
  t.teardown(() => app.close())
  app.builds.start({ id: 1, runner: 'docker-1' }).setStage('step_script')
  const registry = app.runnerRegistry
  // The runtime families' values move between scrapes; the labels are what is compared.
  const runnerLines = (text: string): string => text.split('\n').filter((line) => /^(# \w+ )?runner_/.test(line)).join('\n')
  const ours = async (): Promise<string> => runnerLines(await registry.metrics())
  const before = await ours()
  const labelsBefore = structuredClone((await registry.getMetricsAsJSON()).map((metric) => metric.values.map((value) => value.labels)))
  const change = (values: Array<{ labels: Record<string, string | number> }>): void => {
    for (const value of values) Object.assign(value.labels, { runner: 'changed', extra: 'x' })
  }
  for (const metric of await registry.getMetricsAsJSON()) change(metric.values)
  for (const metric of registry.getMetricsAsArray()) change((await metric.get()).values)
  t.equal(await ours(), before, 'prom-client\'s rendering')
  t.equal(runnerLines(await render(registry, TEXT_CONTENT_TYPE)), before, 'ours, the same')
  t.same((await registry.getMetricsAsJSON()).map((metric) => metric.values.map((value) => value.labels)), labelsBefore, 'getMetricsAsJSON')
})

t.test('a family\'s text is written again exactly when its samples change, and reused while they do not', async (t) => {
  const runner = reusedLabels({ runner: 'a' })
  let samples: Sample[] = [{ labels: runner, value: 1 }]
  const withFamily = (): Registry => {
    const registry = new Registry()
    registerFamily(registry, { name: 'moving_total', help: 'Moves.', type: 'counter', read: () => samples })
    return registry
  }
  const registry = withFamily()
  // A registry rendered once only has nothing to reuse.
  const both = async (message: string): Promise<void> => {
    for (const contentType of [TEXT_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE]) t.equal(await render(registry, contentType), await render(withFamily(), contentType), `${message}: ${contentType}`)
    t.equal(await render(registry, TEXT_CONTENT_TYPE), await registry.metrics(), `${message}: as prom-client writes it`)
  }
  const first = await render(registry, TEXT_CONTENT_TYPE)
  t.equal(await render(registry, TEXT_CONTENT_TYPE), first, 'unchanged samples: the same text')
  await both('first')
  samples = [{ labels: runner, value: 2 }]
  await both('a value changed')
  samples = [{ labels: { runner: 'b' }, value: 2 }]
  await both('another labels object')
  samples = [{ labels: { runner: 'b' }, value: 2 }, { labels: runner, value: 2 }]
  await both('a series more')
  samples = [{ labels: runner, value: 2, metricName: 'moving_other_total' }]
  await both('another sample name')
  samples = []
  await both('none')
})

t.test('default labels changed in place show at the next scrape, as prom-client reads them', async (t) => {
  const registry = new Registry()
  const defaults: Record<string, string> = { env: 'blue' }
  registry.setDefaultLabels(defaults)
  registerFamily(registry, { name: 'steady', help: 'Steady.', type: 'gauge', read: () => [{ labels: NO_LABELS, value: 1 }] })
  t.match(await render(registry, TEXT_CONTENT_TYPE), /^steady\{env="blue"\} 1$/m)
  defaults.env = 'green'
  t.match(await render(registry, TEXT_CONTENT_TYPE), /^steady\{env="green"\} 1$/m)
  t.equal(await render(registry, TEXT_CONTENT_TYPE), await registry.metrics())
})

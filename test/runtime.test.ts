import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Registry, collectDefaultMetrics } from 'prom-client'
import t from 'tap'
import { registerEventLoopMetrics } from '../lib/plugin/collectors/event-loop.js'
import { readProcFile } from '../lib/plugin/collectors/proc-file.js'
import { registerRuntimeMetrics } from '../lib/plugin/collectors/runtime.js'
import { parseSamples, samplesOf, series } from './helpers.js'

async function scrapeRegistry (registry: Registry): Promise<Map<string, number>> {
  return parseSamples(await registry.metrics())
}

// A gc() to call, as --expose-gc would give.
setFlagsFromString('--expose-gc')

const typeLines = (body: string): string[] => body.split('\n').filter((line) => line.startsWith('# TYPE')).sort()

t.test('the same families as prom-client\'s defaults, with the _total gauges renamed _all', async (t) => {
  const ours = new Registry()
  const stop = registerRuntimeMetrics(ours)()
  t.teardown(stop)
  const theirs = new Registry()
  collectDefaultMetrics({ register: theirs })
  const expected = typeLines(await theirs.metrics()).map((line) => line.replace(/^(# TYPE nodejs_active_\w+)_total gauge$/, '$1_all gauge')).sort()
  t.same(typeLines(await ours.metrics()), expected)
})

t.test('the values are the process\'s own', async (t) => {
  const registry = new Registry()
  const stop = registerRuntimeMetrics(registry)()
  t.teardown(stop)
  const samples = await scrapeRegistry(registry)
  const cpu = process.cpuUsage()
  t.ok(samples.get('process_cpu_seconds_total')! > 0 && samples.get('process_cpu_seconds_total')! <= (cpu.user + cpu.system) / 1e6)
  const sum = samples.get('process_cpu_user_seconds_total')! + samples.get('process_cpu_system_seconds_total')!
  t.ok(Math.abs(samples.get('process_cpu_seconds_total')! - sum) < 1e-9, 'user + system, from one reading')
  t.ok(Math.abs(samples.get('process_start_time_seconds')! - (Date.now() / 1000 - process.uptime())) <= 1)
  t.ok(samples.get('process_resident_memory_bytes')! > 10e6)
  t.ok(samples.get('process_virtual_memory_bytes')! > samples.get('process_resident_memory_bytes')!)
  t.ok(samples.get('process_heap_bytes')! > 0)
  t.ok(Math.abs(samples.get('process_open_fds')! - (readdirSync('/proc/self/fd').length - 1)) <= 3, 'open fds as /proc counts them')
  t.ok(samples.get('process_max_fds')! >= 256)
  t.ok(samples.get('nodejs_heap_size_used_bytes')! > 1e6)
  t.ok(samples.get('nodejs_heap_size_total_bytes')! >= samples.get('nodejs_heap_size_used_bytes')!)
  t.ok(samples.get(series('nodejs_heap_space_size_used_bytes', { space: 'old' }))! > 0)
  const [major, minor, patch] = process.versions.node.split('.')
  t.equal(samples.get(series('nodejs_version_info', { version: process.version, major: major!, minor: minor!, patch: patch! })), 1)
  const resources = [...samplesOf(samples, 'nodejs_active_resources')].reduce((sum, [, value]) => sum + value, 0)
  t.equal(samples.get('nodejs_active_resources_all'), resources, 'the total is the sum of the types')
  for (const kind of ['major', 'minor', 'incremental', 'weakcb']) t.ok(samples.has(series('nodejs_gc_duration_seconds_count', { kind })), `gc kind ${kind} is there from the start`)
})

t.test('a handle of a known type shows up by type', async (t) => {
  const registry = new Registry()
  const stop = registerRuntimeMetrics(registry)()
  t.teardown(stop)
  const timer = setTimeout(() => {}, 10_000)
  t.teardown(() => clearTimeout(timer))
  const samples = await scrapeRegistry(registry)
  t.ok(samples.get(series('nodejs_active_resources', { type: 'Timeout' }))! >= 1)
})

t.test('event-loop delay: a blocked loop shows in max and the percentiles; a period with no sample keeps the last', async (t) => {
  const registry = new Registry()
  const stop = registerRuntimeMetrics(registry, { eventLoopResolution: 10 })()
  t.teardown(stop)
  const eventLoopOnly = new Registry()
  t.teardown(registerEventLoopMetrics(eventLoopOnly, 10)())
  await new Promise((resolve) => setTimeout(resolve, 50))
  const until = Date.now() + 300
  while (Date.now() < until) { /* block the event loop */ }
  await new Promise((resolve) => setTimeout(resolve, 30))
  const first = await scrapeRegistry(registry)
  t.ok(first.get('nodejs_eventloop_lag_max_seconds')! >= 0.25, `max ${first.get('nodejs_eventloop_lag_max_seconds')} s`)
  t.ok(first.get('nodejs_eventloop_lag_min_seconds')! <= first.get('nodejs_eventloop_lag_p50_seconds')!)
  t.ok(first.get('nodejs_eventloop_lag_p99_seconds')! <= first.get('nodejs_eventloop_lag_max_seconds')! * 1.01)
  t.ok(first.get('nodejs_eventloop_lag_mean_seconds')! > 0)
  t.ok(first.get('nodejs_eventloop_lag_stddev_seconds')! > 0)
  t.ok(first.get('nodejs_eventloop_lag_seconds')! >= 0)
  // Two scrapes begun in the same turn: the second finds no new sample and reports the same period.
  const [second, third] = await Promise.all([eventLoopOnly.metrics(), eventLoopOnly.metrics()])
  t.equal(parseSamples(third).get('nodejs_eventloop_lag_max_seconds'), parseSamples(second).get('nodejs_eventloop_lag_max_seconds'), 'no new sample in between: the last period stands')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const later = await scrapeRegistry(registry)
  t.ok(later.get('nodejs_eventloop_lag_max_seconds')! < 0.25, 'a new period once samples came in')
})

t.test('garbage collections are counted by kind', async (t) => {
  const registry = new Registry()
  const stop = registerRuntimeMetrics(registry)()
  t.teardown(stop)
  runInNewContext('gc')()
  await new Promise((resolve) => setTimeout(resolve, 20))
  const samples = await scrapeRegistry(registry)
  t.ok(samples.get(series('nodejs_gc_duration_seconds_count', { kind: 'major' }))! >= 1)
  t.ok(samples.get(series('nodejs_gc_duration_seconds_sum', { kind: 'major' }))! > 0)
})

t.test('once stopped, nothing samples the event loop or watches collections any more', async (t) => {
  const registry = new Registry()
  const stop = registerRuntimeMetrics(registry)()
  await new Promise((resolve) => setTimeout(resolve, 30))
  stop()
  const before = await scrapeRegistry(registry)
  const until = Date.now() + 300
  while (Date.now() < until) { /* block the event loop */ }
  runInNewContext('gc')()
  await new Promise((resolve) => setTimeout(resolve, 30))
  const after = await scrapeRegistry(registry)
  for (const statistic of ['min', 'max', 'mean', 'p99']) {
    t.equal(after.get(`nodejs_eventloop_lag_${statistic}_seconds`), before.get(`nodejs_eventloop_lag_${statistic}_seconds`), `no new delay sample (${statistic})`)
  }
  t.equal(after.get(series('nodejs_gc_duration_seconds_count', { kind: 'major' })), before.get(series('nodejs_gc_duration_seconds_count', { kind: 'major' })), 'no new collection counted')
})

const noProc = (): never => { throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }) }

t.test('without /proc (any system but Linux) the /proc metrics have no samples and nothing fails', async (t) => {
  const fs = await import('node:fs')
  const withoutProc = async (): Promise<typeof import('../lib/plugin/collectors/process.js')> => await t.mockImport('../lib/plugin/collectors/process.js', {
    'node:fs': { ...fs, statSync: noProc, readdirSync: noProc },
    '../lib/plugin/collectors/proc-file.js': { readProcFile: () => undefined }
  })
  const registry = new Registry()
  ;(await withoutProc()).registerProcessMetrics(registry)
  const samples = await scrapeRegistry(registry)
  for (const name of ['process_virtual_memory_bytes', 'process_heap_bytes', 'process_open_fds', 'process_max_fds']) t.equal(samplesOf(samples, name).size, 0, name)
  t.ok(samples.get('process_resident_memory_bytes')! > 0, 'resident memory comes from Node itself')
  // And where Node cannot read it either (EMFILE), it is left out.
  const rss = process.memoryUsage.rss
  process.memoryUsage.rss = () => { throw Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' }) }
  t.teardown(() => { process.memoryUsage.rss = rss })
  t.equal(samplesOf(await scrapeRegistry(registry), 'process_resident_memory_bytes').size, 0, 'left out when unreadable')
})

t.test('open descriptors: listed where /proc/self/fd reports no size (kernels before 6.2)', async (t) => {
  const fs = await import('node:fs')
  const { registerProcessMetrics } = await t.mockImport<typeof import('../lib/plugin/collectors/process.js')>('../lib/plugin/collectors/process.js', {
    'node:fs': { ...fs, statSync: () => ({ size: 0 }) }
  })
  const registry = new Registry()
  registerProcessMetrics(registry)
  const samples = await scrapeRegistry(registry)
  t.ok(Math.abs(samples.get('process_open_fds')! - (readdirSync('/proc/self/fd').length - 1)) <= 3)
})

t.test('a /proc file is read whole, up to the buffer; what cannot be read is undefined', async (t) => {
  t.match(readProcFile('/proc/self/status'), /^Name:/)
  t.equal(readProcFile('/proc/self'), undefined, 'a folder opens but does not read')
  t.equal(readProcFile('/nowhere/at/all'), undefined)
  const dir = t.testdir({ 'big.txt': 'x'.repeat(40_000) })
  t.equal(readProcFile(join(dir, 'big.txt'))!.length, 16 * 1024, 'longer than any /proc file read here: cut at the buffer')
})

t.test('eventLoopResolution: 100 ms by default, any whole number of ms from 1 to 60000', async (t) => {
  const { resolveOptions } = await import('../lib/plugin/options.js')
  t.equal(resolveOptions({}).eventLoopResolution, 100)
  t.equal(resolveOptions({ eventLoopResolution: 10 }).eventLoopResolution, 10)
  for (const wrong of [0, 60_001, 2.5, '10']) {
    t.throws(() => resolveOptions({ eventLoopResolution: wrong as number }), { message: `fastify-runner-metrics: option "eventLoopResolution" must be an integer from 1 to 60000, got ${JSON.stringify(wrong)}` })
  }
})

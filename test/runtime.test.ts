import { closeSync, fstatSync, openSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Registry, collectDefaultMetrics } from 'prom-client'
import t, { type Test } from 'tap'
import { registerEventLoopMetrics } from '../lib/plugin/collectors/event-loop.js'
import { ProcFile } from '../lib/plugin/collectors/proc-file.js'
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
    'node:fs': { ...fs, readdirSync: noProc },
    '../lib/plugin/collectors/proc-file.js': await t.mockImport('../lib/plugin/collectors/proc-file.js', { 'node:fs': { ...fs, openSync: noProc } })
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

t.test('memory from /proc/self/statm is what /proc/self/status says: VmSize, VmRSS and VmData', async (t) => {
  const registry = new Registry()
  t.teardown(registerRuntimeMetrics(registry)())
  const samples = await scrapeRegistry(registry)
  const status = new ProcFile('/proc/self/status').text()!
  const bytes = (name: string): number => Number(new RegExp(`^${name}:\\s*(\\d+) kB$`, 'm').exec(status)![1]) * 1024
  const near = (value: number, expected: number, what: string): void => { t.ok(Math.abs(value - expected) <= expected * 0.05, `${what}: ${value} against ${expected}`) }
  near(samples.get('process_virtual_memory_bytes')!, bytes('VmSize'), 'virtual')
  near(samples.get('process_resident_memory_bytes')!, bytes('VmRSS'), 'resident')
  near(samples.get('process_heap_bytes')!, bytes('VmData'), 'heap, as prom-client: VmData, without the stack')
})

t.test('memory is left out where statm or status cannot be read as expected', async (t) => {
  const real = (await import('../lib/plugin/collectors/proc-file.js')).ProcFile
  const withFiles = async (texts: Record<string, string | undefined>): Promise<Map<string, number>> => {
    class FakeProcFile extends real {
      readonly #path: string
      constructor (path: string) { super(path); this.#path = path }
      text (): string | undefined { return this.#path in texts ? texts[this.#path] : super.text() }
    }
    const { registerProcessMetrics } = await t.mockImport<typeof import('../lib/plugin/collectors/process.js')>('../lib/plugin/collectors/process.js', {
      '../lib/plugin/collectors/proc-file.js': { ProcFile: FakeProcFile }
    })
    const registry = new Registry()
    registerProcessMetrics(registry)
    return await scrapeRegistry(registry)
  }
  for (const [what, texts] of [
    ['statm cut short', { '/proc/self/statm': '100 50 3' }],
    ['status unreadable', { '/proc/self/status': undefined }],
    ['status without VmStk', { '/proc/self/status': 'VmSize:\t 400 kB\n' }],
    ['statm says 0 pages', { '/proc/self/statm': '0 0 0 0 0 0 0\n' }]
  ] as const) {
    const samples = await withFiles(texts)
    t.equal(samplesOf(samples, 'process_virtual_memory_bytes').size + samplesOf(samples, 'process_heap_bytes').size, 0, what)
    t.ok(samples.get('process_resident_memory_bytes')! > 0, `${what}: resident memory from Node`)
  }
  const samples = await withFiles({ '/proc/self/statm': '100 50 3 4 0 30 0\n', '/proc/self/status': 'VmSize:\t 1600 kB\nVmStk:\t 132 kB\n' })
  t.equal(samples.get('process_virtual_memory_bytes'), 100 * 16384, 'the page size learnt from VmSize (16 KiB pages)')
  t.equal(samples.get('process_resident_memory_bytes'), 50 * 16384)
  t.equal(samples.get('process_heap_bytes'), 30 * 16384 - 132 * 1024, 'data less the stack')
})

t.test('open descriptors: listed where /proc/self/fd reports no size (kernels before 6.2)', async (t) => {
  const fs = await import('node:fs')
  const { registerProcessMetrics } = await t.mockImport<typeof import('../lib/plugin/collectors/process.js')>('../lib/plugin/collectors/process.js', {
    '../lib/plugin/collectors/proc-file.js': await t.mockImport('../lib/plugin/collectors/proc-file.js', { 'node:fs': { ...fs, fstatSync: (fd: number) => ({ ...fs.fstatSync(fd), size: 0 }) } })
  })
  const registry = new Registry()
  registerProcessMetrics(registry)
  const samples = await scrapeRegistry(registry)
  t.ok(Math.abs(samples.get('process_open_fds')! - (readdirSync('/proc/self/fd').length - 1)) <= 3)
})

/** The descriptors of this process open on `path`. */
function descriptorsOf (path: string): number[] {
  return readdirSync('/proc/self/fd').map(Number).filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path
    } catch {
      return false
    }
  })
}

t.test('a /proc file is read whole, up to the buffer; what cannot be read is undefined', async (t) => {
  t.match(new ProcFile('/proc/self/status').text(), /^Name:/)
  t.equal(new ProcFile('/proc/self').text(), undefined, 'a folder opens but does not read')
  t.equal(new ProcFile('/nowhere/at/all').text(), undefined)
  t.equal(new ProcFile('/nowhere/at/all').size(), undefined)
  const dir = t.testdir({ 'big.txt': 'x'.repeat(40_000) })
  t.equal(new ProcFile(join(dir, 'big.txt')).text()!.length, 16 * 1024, 'longer than any /proc file read here: cut at the buffer')
  t.same(descriptorsOf(join(dir, 'big.txt')), [], 'not held: closed after each read')
})

t.test('a held file stays open between reads, is read afresh from its start each time, and is closed on release', async (t) => {
  const dir = t.testdir({ 'status.txt': 'first\n' })
  const path = join(dir, 'status.txt')
  const file = new ProcFile(path)
  file.hold()
  t.teardown(() => file.release())
  t.equal(file.text(), 'first\n')
  const [fd] = descriptorsOf(path)
  t.ok(fd !== undefined, 'open after the read')
  writeFileSync(path, 'second, longer\n')
  t.equal(file.text(), 'second, longer\n', 'the current text, from offset 0')
  t.same(descriptorsOf(path), [fd], 'the same descriptor, no other')
  file.release()
  t.same(descriptorsOf(path), [], 'closed on release')
  t.equal(file.text(), 'second, longer\n', 'still readable once released, opened for the read only')
  t.same(descriptorsOf(path), [])
  const folder = new ProcFile('/proc/self/fd')
  folder.hold()
  t.teardown(() => folder.release())
  t.ok(folder.size()! > 0, 'a folder\'s size, as this kernel counts the open descriptors')
  const more = openSync(path, 'r')
  t.equal(folder.size(), readdirSync('/proc/self/fd').length - 1, 'counted afresh through the held descriptor')
  closeSync(more)
})

/** A ProcFile of `path`, held and read once (its text is `text`), and the descriptor it holds. */
function heldAndRead (t: Test, path: string, text: string): { file: ProcFile, fd: number | undefined } {
  const file = new ProcFile(path)
  file.hold()
  t.teardown(() => file.release())
  t.equal(file.text(), text)
  return { file, fd: descriptorsOf(path)[0] }
}

t.test('a held descriptor the host closes behind our back: the next read opens the file again, and release closes only what is still ours', async (t) => {
  const dir = t.testdir({ 'status.txt': 'mine\n', 'other.txt': 'theirs\n' })
  const path = join(dir, 'status.txt')
  const { file, fd } = heldAndRead(t, path, 'mine\n')
  closeSync(fd!)
  t.equal(file.text(), 'mine\n', 'read again through a new descriptor')
  const [again] = descriptorsOf(path)
  t.ok(again !== undefined, 'held again')
  // The host closes it again, and its next open gets the same number.
  closeSync(again!)
  const theirs = openSync(join(dir, 'other.txt'), 'r')
  t.teardown(() => closeSync(theirs))
  t.equal(theirs, again, 'the number was reused')
  file.release()
  t.doesNotThrow(() => fstatSync(theirs), 'the host\'s descriptor is left open')
  const folder = new ProcFile(dir)
  folder.hold()
  t.teardown(() => folder.release())
  const size = folder.size()
  closeSync(descriptorsOf(dir)[0]!)
  t.equal(folder.size(), size, 'a folder\'s size too')
})

t.test('a held descriptor the host closes and reuses for a file of its own is never read: ours is opened again', async (t) => {
  const dir = t.testdir({ 'status.txt': 'mine\n', 'host.log': 'the host\'s data\n'.repeat(1000) })
  const path = join(dir, 'status.txt')
  const { file, fd } = heldAndRead(t, path, 'mine\n')
  closeSync(fd!)
  const theirs = openSync(join(dir, 'host.log'), 'r')
  t.teardown(() => closeSync(theirs))
  t.equal(theirs, fd, 'the number was reused')
  t.equal(file.text(), 'mine\n', 'our file\'s text, not the host\'s')
  t.equal(descriptorsOf(path).length, 1, 'held again, at another number')
  const folder = new ProcFile('/proc/self/fd')
  folder.hold()
  t.teardown(() => folder.release())
  folder.size()
  const [held] = descriptorsOf(`/proc/${process.pid}/fd`)
  closeSync(held!)
  const again = openSync(join(dir, 'host.log'), 'r')
  t.teardown(() => closeSync(again))
  t.equal(again, held, 'the number was reused')
  t.equal(folder.size(), readdirSync('/proc/self/fd').length - 1, 'the open descriptors, not the size of the host\'s file')
  file.release()
  folder.release()
  t.doesNotThrow(() => { fstatSync(theirs); fstatSync(again) }, 'the host\'s descriptors are left open')
})

t.test('the process metrics hold their /proc files only between start and stop', async (t) => {
  const registry = new Registry()
  const held = (): number => ['statm', 'limits', 'fd'].flatMap((name) => descriptorsOf(`/proc/${process.pid}/${name}`)).length
  const stop = registerRuntimeMetrics(registry)()
  await registry.metrics()
  t.equal(held(), 3, 'statm, limits and the fd folder stay open')
  const samples = await scrapeRegistry(registry)
  t.equal(samples.get('process_open_fds'), readdirSync('/proc/self/fd').length - 1, 'counted with them')
  stop()
  t.equal(held(), 0, 'closed once stopped')
  await registry.metrics()
  t.equal(held(), 0, 'a scrape after stop opens and closes them again')
  const unstarted = new Registry()
  registerRuntimeMetrics(unstarted)
  await unstarted.metrics()
  t.equal(held(), 0, 'never started: nothing held')
})

t.test('eventLoopResolution: 100 ms by default, any whole number of ms from 1 to 60000', async (t) => {
  const { resolveOptions } = await import('../lib/plugin/options.js')
  t.equal(resolveOptions({}).eventLoopResolution, 100)
  t.equal(resolveOptions({ eventLoopResolution: 10 }).eventLoopResolution, 10)
  for (const wrong of [0, 60_001, 2.5, '10']) {
    t.throws(() => resolveOptions({ eventLoopResolution: wrong as number }), { message: `fastify-runner-metrics: option "eventLoopResolution" must be an integer from 1 to 60000, got ${JSON.stringify(wrong)}` })
  }
})

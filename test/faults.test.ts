import { spawnSync } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startMetricsServer } from '../lib/server/index.js'
import { appWith, parseSamples } from './helpers.js'

// One test runs a million builds in a child process: a limit with margin for a busy machine.
t.setTimeout(120_000)

t.test('a config file replaced by something unreadable on reload keeps the old config serving', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\nconcurrent = 5\n' })
  const file = join(dir, 'config.toml')
  const server = await startMetricsServer({ configFile: file })
  t.teardown(() => server.close())
  await rm(file)
  await mkdir(file)
  const result = await server.reload()
  t.same(result, { ok: false, error: `${file}: is a folder, not a file` })
  const samples = parseSamples((await server.app.inject('/metrics')).body)
  t.equal(samples.get('runner_concurrent'), 5)
  t.equal(samples.get('runner_config_load_errors_total'), 1)
  await rm(file, { recursive: true })
  await writeFile(file, 'metrics_server = "127.0.0.1:0"\nconcurrent = 6\n')
  t.same(await server.reload(), { ok: true }, 'a fixed file loads again')
})

t.test('a client that disconnects in the middle of a large gzip response hurts nothing', async (t) => {
  const app = await appWith({ runners: Array.from({ length: 1000 }, (_, index) => ({ name: `runner-${index}`, limit: 1 })) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/metrics', headers: { 'accept-encoding': 'gzip' } }, (response) => {
        response.once('data', () => { req.destroy(); resolve() })
      })
      req.on('error', () => {})
      req.end()
    })
  }
  await new Promise((resolve) => setTimeout(resolve, 100))
  const after = await app.inject('/metrics')
  t.equal(after.statusCode, 200)
  const samples = parseSamples(after.body)
  t.equal(samples.get('runner_metrics_scrapes_in_flight'), 1, 'no scrape is left counted as in flight')
  t.equal(samples.get('runner_metrics_scrapes_total{code="200"}'), 5)
})

t.test('a million builds later, the tracker holds nothing for them', async (t) => {
  // A child with --expose-gc, so that what is still referenced can be told from garbage.
  const script = `
    import { BuildTracker } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}
    import { startMetricsServer } from ${JSON.stringify(new URL('../dist/server/index.js', import.meta.url).href)}
    const tracker = new BuildTracker({ runners: [{ name: 'r0' }, { name: 'r1' }] })
    const server = await startMetricsServer({ tracker, config: {} })
    const stages = ['prepare_executor', 'get_sources', 'step_script', 'after_script']
    const samples = []
    const run = (from, to) => {
      for (let i = from; i < to; i++) {
        const build = tracker.start({ id: i, runner: 'r' + (i % 2) })
        for (const stage of stages) build.setStage(stage)
        build.finish(i % 7 === 0 ? { state: 'failed', failureReason: 'script_failure' } : { state: 'success' })
        if (i % 10000 === 0) samples.push(new WeakRef(build))
      }
    }
    run(0, 10000)
    globalThis.gc(); globalThis.gc()
    const before = process.memoryUsage().heapUsed
    run(10000, 1000000)
    await new Promise((resolve) => setTimeout(resolve, 10))
    globalThis.gc(); globalThis.gc()
    const after = process.memoryUsage().heapUsed
    const jobs = await server.app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })
    const metrics = await server.app.inject('/metrics')
    const started = metrics.body.match(/^runner_builds_started_total\\{runner="r0"\\} (\\d+)$/m)[1]
    console.log(JSON.stringify({ live: tracker.liveCount, jobs: jobs.json().builds.length, alive: samples.filter((ref) => ref.deref() !== undefined).length, sampled: samples.length, growth: after - before, started: Number(started) }))
    await server.close()
  `
  const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) })
  t.equal(child.status, 0, child.stderr)
  const result = JSON.parse(child.stdout.trim().split('\n').pop()!)
  t.equal(result.live, 0)
  t.equal(result.jobs, 0, 'the jobs list is empty')
  t.equal(result.started, 500000)
  t.equal(result.sampled, 100)
  t.equal(result.alive, 0, 'no finished build is still referenced (no leak through closures or duration records)')
  t.ok(result.growth < 2_000_000, `heap grew by ${result.growth} bytes over 990,000 builds`)
})

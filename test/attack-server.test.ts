// Attacks on the standalone server's lifecycle (files, reloads, shutdown) that once broke it.
import { get } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { Counter } from 'prom-client'
import t from 'tap'
import { loadConfig, startMetricsServer } from '../lib/server/index.js'
import { MAX_FILE_BYTES } from '../lib/server/read-text.js'

// Servers start and stop in-process, but a busy machine may still take seconds.
t.setTimeout(60_000)

async function status (url: string): Promise<string> {
  return await new Promise((resolve) => {
    get(url, { agent: false }, (response) => { response.resume(); response.on('end', () => resolve(String(response.statusCode))) })
      .on('error', (error: NodeJS.ErrnoException) => resolve(error.code!))
  })
}

/** Whether a TCP connection to `host:port` is refused. */
async function refused (host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, host)
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => resolve(true))
  })
}

t.test('a config file over the size limit is refused, at start and on reload, without reading it all', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const file = join(dir, 'config.toml')
  const server = await startMetricsServer({ configFile: file })
  t.teardown(() => server.close())
  // Valid TOML (a comment) one byte over: only the size can refuse it.
  const line = `#${'x'.repeat(1022)}\n`
  await writeFile(file, `concurrent = 7\n${line.repeat(Math.ceil(MAX_FILE_BYTES / line.length))}`)
  const result = await server.reload()
  t.same(result, { ok: false, error: `${file}: is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB; a config or web config file is never that big` })
  t.equal(server.config.concurrent, 1, 'the old config stays in force')
  await t.rejects(loadConfig(file), { name: 'ConfigError', message: /is larger than/ })
  // Exactly at the limit still loads.
  const exact = 'concurrent = 7\n'
  await writeFile(file, exact + ' '.repeat(MAX_FILE_BYTES - exact.length))
  t.same(await server.reload(), { ok: true })
  t.equal(server.config.concurrent, 7)
})

t.test('close() while a reload drains the old listener: the new one stops accepting at once', async (t) => {
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, closeGraceMs: 60_000, scrapeTimeout: 60_000 })
  t.teardown(() => server.close())
  // A scrape held in flight keeps the old listener draining until released.
  let release: () => void = () => {}
  let entered: () => void = () => {}
  const inCollector = new Promise<void>((resolve) => { entered = resolve })
  let gated = true
  new Counter({ name: 'held_total', help: 'x', registers: [server.registry], collect: () => { if (!gated) return; gated = false; entered(); return new Promise<void>((resolve) => { release = resolve }) } }).inc()
  const old = server.address()!
  let answered = false
  const held = status(`http://127.0.0.1:${old.port}/metrics`).finally(() => { answered = true })
  await inCollector
  const reloading = server.reload({ metrics_server: '127.0.0.2:0' })
  while (server.address()?.address !== '127.0.0.2') await new Promise((resolve) => setImmediate(resolve))
  const moved = server.address()!
  const closing = server.close()
  // Bounded: on the old code the new listener accepted until the held scrape ended (never, here).
  const deadline = Date.now() + 20_000
  while (!await refused('127.0.0.2', moved.port) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(await refused('127.0.0.2', moved.port), 'the new listener stopped accepting')
  t.notOk(answered, 'while the old one still drains')
  release()
  t.equal(await held, '200', 'the held scrape on the old listener was answered')
  t.same(await reloading, { ok: true })
  await closing
})

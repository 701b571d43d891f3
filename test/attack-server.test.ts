// Attacks on the standalone server's lifecycle (files, reloads, shutdown) that once broke it.
import { once } from 'node:events'
import { get } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { Counter } from 'prom-client'
import t from 'tap'
import { BuildTracker } from '../lib/index.js'
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

/** A port free on 127.0.0.1 and ::1 right now. */
async function freePort (): Promise<number> {
  const probe = createNetServer().listen(0, '::')
  await once(probe, 'listening')
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

async function free (host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const probe = createNetServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, host, () => probe.close(() => resolve(true)))
  })
}

/**
 * The runner manager adds runner `c` while the next reload binds (a host name resolves
 * asynchronously, so the manager runs between the reload's check and its commit).
 */
function raceNextReload (tracker: BuildTracker): void {
  const check = tracker.checkConfig.bind(tracker)
  tracker.checkConfig = (config) => {
    check(config)
    setImmediate(() => tracker.start({ id: 'racing', runner: 'c' }))
  }
}

t.test('a reload refused at commit (the manager reached the runner cap meanwhile) leaves no listener behind on the new address', async (t) => {
  const tracker = new BuildTracker({ maxRunners: 2 })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0', runners: [{ name: 'a' }] }, tracker })
  t.teardown(() => server.close())
  raceNextReload(tracker)
  const before = server.address()!
  const port = await freePort()
  const result = await server.reload({ metrics_server: `localhost:${port}`, runners: [{ name: 'a' }, { name: 'b' }] })
  t.match(result, { ok: false, error: /runner "b" would be runner number 3/ })
  t.same(server.address(), before, 'still where it was')
  t.equal(await free('127.0.0.1', port), true, 'the refused address is not held')
  t.equal(await status(`http://127.0.0.1:${before.port}/-/ready`), '200')
})

t.test('a reload refused at commit after an in-place move binds the old address again', async (t) => {
  const tracker = new BuildTracker({ maxRunners: 2 })
  const port = await freePort()
  const server = await startMetricsServer({ config: { metrics_server: `127.0.0.1:${port}`, runners: [{ name: 'a' }] }, tracker })
  t.teardown(() => server.close())
  raceNextReload(tracker)
  // localhost resolves to 127.0.0.1 (or ::1): the same port, another host, moved in place.
  const result = await server.reload({ metrics_server: `localhost:${port}`, runners: [{ name: 'a' }, { name: 'b' }] })
  t.match(result, { ok: false, error: /runner "b" would be runner number 3/ })
  t.same(server.address(), { address: '127.0.0.1', family: 'IPv4', port }, 'back where it was')
  t.equal(await status(`http://127.0.0.1:${port}/-/ready`), '200')
})

t.test('same port, another host, taken by another process: the move fails and the old address is bound again', async (t) => {
  const port = await freePort()
  const blocker = createNetServer().listen(port, '::1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const server = await startMetricsServer({ config: { metrics_server: `127.0.0.1:${port}` } })
  t.teardown(() => server.close())
  const result = await server.reload({ metrics_server: `[::1]:${port}` })
  t.match(result, { ok: false, error: `cannot listen on [::1]:${port}: the address is already in use` })
  t.same(server.address(), { address: '127.0.0.1', family: 'IPv4', port }, 'back where it was')
  t.equal(await status(`http://127.0.0.1:${port}/-/ready`), '200')
})

t.test('a config file truncated to nothing (a half-written file) is refused, and the server keeps listening', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const file = join(dir, 'config.toml')
  const server = await startMetricsServer({ configFile: file })
  t.teardown(() => server.close())
  const before = server.address()
  for (const text of ['', ' \n\t\n']) {
    await writeFile(file, text)
    t.same(await server.reload(), { ok: false, error: `${file}: is empty (a half-written file?); to run with every setting at its default, write a comment line in it` })
    t.same(server.address(), before, 'still listening where it was, not disabled')
  }
  await writeFile(file, '# every default: the metrics server disabled\n')
  t.same(await server.reload(), { ok: true }, 'a comment line is a deliberate empty config')
  t.equal(server.address(), undefined)
  await t.rejects(startMetricsServer({ configFile: join(t.testdir({ 'config.toml': '' }), 'config.toml') }), { name: 'ConfigError', message: /is empty/ })
})

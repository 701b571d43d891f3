import { once } from 'node:events'
import { execFileSync } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { Agent, get } from 'node:http'
import { connect, createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { parseSamples } from './helpers.js'
import { catches, runServer, type ServerProcess } from './spawn-server.js'

// Every start of dist/server.js takes seconds on a busy machine.
t.setTimeout(180_000)

async function fetchText (url: string, agent: Agent | false = false): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    get(url, { agent }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode!, body }))
    }).on('error', reject)
  })
}

async function stop (server: ServerProcess): Promise<{ code: number | null, signal: string | null }> {
  if (server.child.exitCode === null) server.child.kill('SIGTERM')
  return await server.exited
}

/** Resolves once `condition` holds, looking every 5 ms. */
async function poll (condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}

t.test('SIGHUP: a changed address rebinds, a broken or missing file and a busy port keep the old server', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.2:0"\nconcurrent = 1\n' })
  const file = join(dir, 'config.toml')
  const blocker = createNetServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as { port: number }).port
  const server = runServer(['--config', file], { t })
  await server.waitFor(/listening on/)
  const first = server.url()

  await writeFile(file, 'metrics_server = "127.0.0.5:0"\nconcurrent = 6\n')
  server.child.kill('SIGHUP')
  await server.waitFor(/listening on http:\/\/127\.0\.0\.5/)
  await server.waitFor(/config reloaded/)
  const second = server.url()
  await t.rejects(fetchText(`${first}/metrics`), { code: 'ECONNREFUSED' }, 'the old listener is gone')
  let samples = parseSamples((await fetchText(`${second}/metrics`)).body)
  t.equal(samples.get('runner_concurrent'), 6)
  t.equal(samples.get('runner_config_loaded_total'), 2)

  await writeFile(file, 'metrics_server = "127.0.0.5:0"\nconcurrent = = 9\n')
  server.child.kill('SIGHUP')
  await server.waitFor(/config reload failed, the previous config stays in force: .*config\.toml: line 2, column \d+: invalid TOML/)

  await writeFile(file, `metrics_server = "127.0.0.1:${port}"\nconcurrent = 9\n`)
  server.child.kill('SIGHUP')
  await server.waitFor(/config reload failed.*cannot listen on 127\.0\.0\.1:\d+: the address is already in use/)

  await rm(file)
  server.child.kill('SIGHUP')
  await server.waitFor(/config reload failed.*config\.toml: no such file/)

  samples = parseSamples((await fetchText(`${second}/metrics`)).body)
  t.equal(samples.get('runner_config_load_errors_total'), 3)
  t.equal(samples.get('runner_config_loaded_total'), 2)
  t.equal(samples.get('runner_concurrent'), 6, 'the last good config is in force')
  const errorLines = server.stdout().split('\n').filter((line) => line.includes('reload failed'))
  t.equal(errorLines.length, 3, 'one line per failed reload')
  t.equal(server.stderr(), '')
  t.same(await stop(server), { code: 0, signal: null })
})

t.test('SIGHUP in the first moments: handlers come first, and the reload is applied once ready', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\nconcurrent = 1\n' })
  // Without tap's preloads: they catch SIGHUP themselves (signal-exit) and re-raise it while no
  // other handler exists, which would hide whether ours comes first.
  const server = runServer(['--config', join(dir, 'config.toml')], { t, bare: true })
  await poll(() => server.child.exitCode !== null || catches(server, 'SIGHUP'))
  t.notMatch(server.stdout(), /listening on/, 'SIGHUP is caught before the server starts')
  await writeFile(join(dir, 'config.toml'), 'metrics_server = "127.0.0.1:0"\nconcurrent = 4\n')
  server.child.kill('SIGHUP')
  await server.waitFor(/config reloaded/)
  t.equal(parseSamples((await fetchText(`${server.url()}/metrics`)).body).get('runner_concurrent'), 4, 'the reload was applied')
  t.match(server.stdout(), /listening on[\s\S]*config reloaded/, 'after the start')
  t.same(await stop(server), { code: 0, signal: null })
})

t.test('SIGTERM during 50 scrapes: every scrape in flight completes, then exit 0', async (t) => {
  // A thousand runners make each scrape long enough to still be running when the signal lands.
  const runners = Array.from({ length: 1000 }, (_, index) => `[[runners]]\nname = "runner-${index}"\nlimit = 2\n`).join('')
  const dir = t.testdir({ 'config.toml': `metrics_server = "127.0.0.1:0"\n${runners}` })
  const server = runServer(['--config', join(dir, 'config.toml')], { t })
  await server.waitFor(/listening on/)
  const url = `${server.url()}/metrics`
  // Connections the server has accepted, as Prometheus keeps them: a scrape on one is in flight
  // once sent. (A connection still in the kernel's accept queue is not the server's yet.)
  const agent = new Agent({ keepAlive: true, maxSockets: 50 })
  t.teardown(() => agent.destroy())
  await Promise.all(Array.from({ length: 50 }, async () => await fetchText(url, agent)))
  let signalled = false
  let completedAfterSignal = 0
  let firstAnswered: () => void = () => {}
  const firstAnswer = new Promise<void>((resolve) => { firstAnswered = resolve })
  const scrapes = Array.from({ length: 50 }, async () => {
    const response = await fetchText(url, agent)
    firstAnswered()
    if (signalled) completedAfterSignal++
    return response
  })
  await firstAnswer
  signalled = true
  server.child.kill('SIGTERM')
  const responses = await Promise.all(scrapes)
  t.ok(responses.every((response) => response.status === 200 && response.body.includes('runner_limit{runner="runner-999"} 2')), 'every scrape got a whole answer')
  t.ok(completedAfterSignal > 0, `${completedAfterSignal} scrapes finished after SIGTERM`)
  t.same(await server.exited, { code: 0, signal: null })
  t.match(server.stdout(), /SIGTERM received: finishing in-flight requests, then exiting/)
})

t.test('SIGINT stops it too; SIGINT then SIGTERM ends it at once', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const plain = runServer(['--config', join(dir, 'config.toml')], { t })
  await plain.waitFor(/listening on/)
  plain.child.kill('SIGINT')
  t.same(await plain.exited, { code: 0, signal: null })

  const server = runServer(['--config', join(dir, 'config.toml')], { t })
  await server.waitFor(/listening on/)
  // A connection that sends nothing keeps a graceful stop waiting for seconds.
  const { port } = new URL(server.url())
  const idle = connect(Number(port), '127.0.0.1')
  t.teardown(() => idle.destroy())
  await once(idle, 'connect')
  server.child.kill('SIGINT')
  await server.waitFor(/SIGINT received/)
  server.child.kill('SIGTERM')
  t.same(await server.exited, { code: 143, signal: null }, '128 + SIGTERM, as a shell reports a process the signal ended')
  t.match(server.stdout(), /SIGTERM received while stopping: exiting now/)
})

t.test('a config path that is a FIFO fails the start at once, and a reload to one fails without hanging shutdown', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const fifo = join(dir, 'fifo.toml')
  execFileSync('mkfifo', [fifo])
  const refused = runServer(['--config', fifo], { t })
  t.equal((await refused.exited).code, 1)
  t.equal(refused.stderr(), `fastify-runner-metrics: ${fifo}: is not a regular file (a FIFO, socket or device)\n`)

  const file = join(dir, 'config.toml')
  const server = runServer(['--config', file], { t })
  await server.waitFor(/listening on/)
  await rm(file)
  execFileSync('mkfifo', [file])
  server.child.kill('SIGHUP')
  await server.waitFor(/config reload failed.*is not a regular file/)
  t.same(await stop(server), { code: 0, signal: null })
})

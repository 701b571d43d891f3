import { Agent, get, type IncomingHttpHeaders } from 'node:http'
import { once } from 'node:events'
import { rm, writeFile } from 'node:fs/promises'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { parseSamples, series } from './helpers.js'
import { runServer, type ServerProcess } from './spawn-server.js'

async function fetchText (url: string, headers: Record<string, string> = {}, agent: Agent | false = false): Promise<{ status: number, headers: IncomingHttpHeaders, body: string }> {
  return await new Promise((resolve, reject) => {
    get(url, { agent, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }))
    }).on('error', reject)
  })
}

async function stop (server: ServerProcess): Promise<{ code: number | null, signal: string | null }> {
  if (server.child.exitCode === null) server.child.kill('SIGTERM')
  return await server.exited
}

async function busyPort (t: { teardown: (cleanup: () => void) => void }): Promise<number> {
  const blocker = createNetServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  return (blocker.address() as { port: number }).port
}

const SECRETS = ['glrt-SECRET-TOKEN', 'gitlab.secret.example', 'AKIA-SECRET-KEY', 'hunter2']
const SECRET_CONFIG = (address: string): string => `
concurrent = 3
metrics_server = "${address}"

[[runners]]
  name = "docker-1"
  url = "https://gitlab.secret.example/"
  token = "glrt-SECRET-TOKEN"
  limit = 2
  environment = ["PASSWORD=hunter2"]
  [runners.cache.s3]
    AccessKey = "AKIA-SECRET-KEY"

[[runners]]
  name = "shell"
  token = "glrt-SECRET-TOKEN"
`

t.test('serves metrics, landing page, health and jobs list where the config says; no secret anywhere', async (t) => {
  const dir = t.testdir({ 'config.toml': SECRET_CONFIG('127.0.0.1:0') })
  const server = runServer(['--config', join(dir, 'config.toml')])
  await server.waitFor(/listening on/)
  const base = server.url()
  const metrics = await fetchText(`${base}/metrics`)
  t.equal(metrics.status, 200)
  const samples = parseSamples(metrics.body)
  t.equal(samples.get('runner_concurrent'), 3)
  t.equal(samples.get(series('runner_limit', { runner: 'docker-1' })), 2)
  t.equal(samples.get(series('runner_builds_started_total', { runner: 'shell' })), 0, 'idle runners have their series')
  t.equal(samples.get('runner_config_loaded_total'), 1)
  const landing = await fetchText(`${base}/`)
  t.match(landing.headers['content-type'], /^text\/html/)
  t.match(landing.body, /<a href="metrics">/)
  t.equal((await fetchText(`${base}/-/healthy`)).status, 200)
  t.equal((await fetchText(`${base}/-/ready`)).status, 200)
  const jobs = await fetchText(`${base}/debug/jobs/list`)
  t.equal(jobs.status, 200)
  t.equal(jobs.headers['x-list-version'], '2')
  t.same(JSON.parse((await fetchText(`${base}/debug/jobs/list`, { accept: 'application/json' })).body), { builds: [] })
  t.same(await stop(server), { code: 0, signal: null })
  const everything = [metrics.body, landing.body, jobs.body, server.stdout(), server.stderr()].join('\n')
  for (const secret of SECRETS) t.notOk(everything.includes(secret), `${secret} never appears`)
})

t.test('without metrics_server: one line says disabled, the process keeps running and listens on nothing', async (t) => {
  const dir = t.testdir({ 'config.toml': 'concurrent = 2\n' })
  const server = runServer(['--config', join(dir, 'config.toml')])
  await server.waitFor(/metrics server is disabled: metrics_server is not set/)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(server.child.exitCode, null, 'still running')
  t.notMatch(server.stdout(), /listening on/)
  t.same(await stop(server), { code: 0, signal: null })
})

t.test('precedence: --metrics-server over METRICS_SERVER over the config', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.2:0"\n' })
  const config = ['--config', join(dir, 'config.toml')]
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['--metrics-server', '127.0.0.4:0'], { METRICS_SERVER: '127.0.0.3:0' }, '127.0.0.4'],
    [[], { METRICS_SERVER: '127.0.0.3:0' }, '127.0.0.3'],
    [[], { METRICS_SERVER: '' }, '127.0.0.2'],
    [[], {}, '127.0.0.2']
  ]
  for (const [flags, env, host] of cases) {
    const server = runServer([...config, ...flags], { env })
    await server.waitFor(/listening on/)
    t.match(server.url(), new RegExp(`^http://${host.replaceAll('.', '\\.')}:\\d+$`), `${flags.join(' ')} ${JSON.stringify(env)}`)
    await stop(server)
  }
})

t.test('SIGHUP: a changed address rebinds, a broken or missing file and a busy port keep the old server', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.2:0"\nconcurrent = 1\n' })
  const file = join(dir, 'config.toml')
  const port = await busyPort(t)
  const server = runServer(['--config', file])
  t.teardown(() => stop(server))
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
})

t.test('SIGTERM during 50 scrapes: every scrape in flight completes, then exit 0', async (t) => {
  // A thousand runners make each scrape long enough to still be running when the signal lands.
  const runners = Array.from({ length: 1000 }, (_, index) => `[[runners]]\nname = "runner-${index}"\nlimit = 2\n`).join('')
  const dir = t.testdir({ 'config.toml': `metrics_server = "127.0.0.1:0"\n${runners}` })
  const server = runServer(['--config', join(dir, 'config.toml')])
  await server.waitFor(/listening on/)
  const url = `${server.url()}/metrics`
  // Connections the server has accepted, as Prometheus keeps them: a scrape on one is in flight
  // once sent. (A connection still in the kernel's accept queue is not the server's yet.)
  const agent = new Agent({ keepAlive: true, maxSockets: 50 })
  t.teardown(() => agent.destroy())
  await Promise.all(Array.from({ length: 50 }, async () => await fetchText(url, {}, agent)))
  let signalled = false
  let completedAfterSignal = 0
  let firstAnswered: () => void = () => {}
  const firstAnswer = new Promise<void>((resolve) => { firstAnswered = resolve })
  const scrapes = Array.from({ length: 50 }, async () => {
    const response = await fetchText(url, {}, agent)
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

t.test('SIGINT stops it too', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const server = runServer(['--config', join(dir, 'config.toml')])
  await server.waitFor(/listening on/)
  server.child.kill('SIGINT')
  t.same(await server.exited, { code: 0, signal: null })
})

t.test('bad input at start: one line naming the file and the problem, no stack, exit 1', async (t) => {
  const port = await busyPort(t)
  const dir = t.testdir({
    'invalid.toml': 'concurrent = 1\nmetrics_server = "127.0.0.1:0\n',
    'type.toml': 'metrics_server = 12\n',
    'concurrent.toml': 'concurrent = "many"\n',
    'port.toml': 'metrics_server = "127.0.0.1:99999"\n',
    'limit.toml': '[[runners]]\nname = "a"\nlimit = -1\ntoken = "glrt-SECRET-TOKEN"\n',
    'busy.toml': `metrics_server = "127.0.0.1:${port}"\n`,
    'remote.toml': 'metrics_server = "192.0.2.1:9252"\n'
  })
  const cases: Array<[string[], RegExp]> = [
    [['--config', join(dir, 'missing.toml')], /missing\.toml: no such file$/],
    [['--config', join(dir, 'invalid.toml')], /invalid\.toml: line 2, column \d+: invalid TOML: /],
    [['--config', join(dir, 'type.toml')], /type\.toml: metrics_server must be a string, got a number$/],
    [['--config', join(dir, 'concurrent.toml')], /concurrent\.toml: concurrent must be an integer, got a string$/],
    [['--config', join(dir, 'port.toml')], /port\.toml: metrics_server: address "127\.0\.0\.1:99999": port "99999" is not a port number \(0-65535\)$/],
    [['--config', join(dir, 'limit.toml')], /limit\.toml: runners\[0\] \("a"\)\.limit must not be negative, got -1$/],
    [['--config', join(dir, 'busy.toml')], new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use$`)],
    [['--config', join(dir, 'remote.toml')], /cannot listen on 192\.0\.2\.1:9252: the address is not on this machine$/],
    [['--config', join(dir, 'busy.toml'), '--metrics-server', 'bad:port'], /metrics server address override: address "bad:port": port "port" is not a port number/]
  ]
  for (const [args, message] of cases) {
    const server = runServer(args)
    const { code } = await server.exited
    const lines = server.stderr().trimEnd().split('\n')
    t.equal(code, 1, args.join(' '))
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], /^fastify-runner-metrics: /)
    t.match(lines[0], message)
    t.notMatch(server.stderr(), /\n\s+at |SECRET/, 'no stack trace, no secret')
  }
})

t.test('the default config path is ./config.toml', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const server = runServer([], { cwd: dir })
  await server.waitFor(/listening on/)
  t.same(await stop(server), { code: 0, signal: null })
  const missing = runServer([], { cwd: t.testdir({}) })
  t.equal((await missing.exited).code, 1)
  t.equal(missing.stderr(), 'fastify-runner-metrics: config.toml: no such file\n')
})

t.test('flags: --help, --version, and a usage line for unknown ones', async (t) => {
  const help = runServer(['--help'])
  t.same(await help.exited, { code: 0, signal: null })
  t.match(help.stdout(), /^usage: fastify-runner-metrics \[--config PATH\] \[--metrics-server ADDR\] \[--web-config-file PATH\] \[--help\] \[--version\]/)
  t.match(help.stdout(), /SIGHUP reloads the config/)
  const version = runServer(['-v'])
  t.same(await version.exited, { code: 0, signal: null })
  t.match(version.stdout(), /^fastify-runner-metrics \d+\.\d+\.\d+\n$/)
  const unknown = runServer(['--port', '9'])
  t.equal((await unknown.exited).code, 2)
  t.match(unknown.stderr(), /^fastify-runner-metrics: Unknown option '--port'.*\nusage: fastify-runner-metrics /)
  const positional = runServer(['serve'])
  t.equal((await positional.exited).code, 2)
  t.match(positional.stderr(), /Unexpected argument 'serve'/)
})

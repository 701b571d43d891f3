import { Agent, get, type IncomingHttpHeaders } from 'node:http'
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

// Every start of dist/server.js takes seconds on a busy machine.
t.setTimeout(180_000)

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
  const server = runServer(['--config', join(dir, 'config.toml')], { t })
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
  t.same(await fetchText(`${base}/health/ready`).then(({ status, body }) => ({ status, body })), { status: 200, body: 'Ready.\n' }, 'GitLab Runner\'s readiness path')
  const jobs = await fetchText(`${base}/debug/jobs/list`)
  t.equal(jobs.status, 200)
  t.equal(jobs.headers['x-list-version'], '2')
  t.same(JSON.parse((await fetchText(`${base}/debug/jobs/list`, { accept: 'application/json' })).body), { builds: [], builds_total: 0 })
  t.same(await stop(server), { code: 0, signal: null })
  const everything = [metrics.body, landing.body, jobs.body, server.stdout(), server.stderr()].join('\n')
  for (const secret of SECRETS) t.notOk(everything.includes(secret), `${secret} never appears`)
})

t.test('without metrics_server: one line says disabled, the process keeps running and listens on nothing', async (t) => {
  const dir = t.testdir({ 'config.toml': 'concurrent = 2\n' })
  const server = runServer(['--config', join(dir, 'config.toml')], { t })
  await server.waitFor(/metrics server is disabled: metrics_server is not set/)
  t.same(await stop(server), { code: 0, signal: null })
  t.match(server.stdout(), /SIGTERM received/, 'it was still running when stopped')
  t.notMatch(server.stdout(), /listening on/)
})

t.test('precedence: --metrics-server or --listen-address over METRICS_SERVER or LISTEN_ADDRESS over the config', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.2:0"\n' })
  const config = ['--config', join(dir, 'config.toml')]
  const cases: Array<[string[], Record<string, string>, string]> = [
    [['--metrics-server', '127.0.0.4:0'], { METRICS_SERVER: '127.0.0.3:0' }, '127.0.0.4'],
    [['--listen-address', '127.0.0.4:0'], { LISTEN_ADDRESS: '127.0.0.3:0' }, '127.0.0.4'],
    [['--listen-address', '127.0.0.4:0'], { METRICS_SERVER: '127.0.0.3:0' }, '127.0.0.4'],
    [['--listen-address', '127.0.0.4:0', '--metrics-server', '127.0.0.4:0'], {}, '127.0.0.4'],
    [[], { METRICS_SERVER: '127.0.0.3:0' }, '127.0.0.3'],
    [[], { LISTEN_ADDRESS: '127.0.0.3:0' }, '127.0.0.3'],
    [[], { LISTEN_ADDRESS: '127.0.0.3:0', METRICS_SERVER: '127.0.0.3:0' }, '127.0.0.3'],
    [[], { METRICS_SERVER: '', LISTEN_ADDRESS: '' }, '127.0.0.2'],
    [[], {}, '127.0.0.2']
  ]
  // At once: each start takes seconds on a busy machine.
  await Promise.all(cases.map(async ([flags, env, host]) => {
    const server = runServer([...config, ...flags], { env, t })
    await server.waitFor(/listening on/)
    t.match(server.url(), new RegExp(`^http://${host.replaceAll('.', '\\.')}:\\d+$`), `${flags.join(' ')} ${JSON.stringify(env)}`)
    await stop(server)
  }))
})

t.test('the two names of the address disagreeing: refused, one line saying so', async (t) => {
  const dir = t.testdir({ 'config.toml': '' })
  const config = ['--config', join(dir, 'config.toml')]
  const flags = runServer([...config, '--metrics-server', '192.0.2.1:1', '--listen-address', '192.0.2.1:2'], { t })
  const env = runServer(config, { env: { METRICS_SERVER: '192.0.2.1:1', LISTEN_ADDRESS: '192.0.2.1:2' }, t })
  t.equal((await flags.exited).code, 2)
  t.match(flags.stderr(), /^fastify-runner-metrics: --metrics-server and --listen-address are the same option and disagree; give one of them\nusage: /)
  t.equal((await env.exited).code, 1)
  t.equal(env.stderr(), 'fastify-runner-metrics: METRICS_SERVER and LISTEN_ADDRESS are the same setting and disagree; set one of them\n')
})

t.test('the default config path is ./config.toml', async (t) => {
  const dir = t.testdir({ 'config.toml': 'metrics_server = "127.0.0.1:0"\n' })
  const server = runServer([], { cwd: dir, t })
  await server.waitFor(/listening on/)
  t.same(await stop(server), { code: 0, signal: null })
  const missing = runServer([], { cwd: t.testdir({}), t })
  t.equal((await missing.exited).code, 1)
  t.equal(missing.stderr(), 'fastify-runner-metrics: config.toml: no such file\n')
})

t.test('flags: --help, --version, and a usage line for unknown ones', async (t) => {
  const help = runServer(['--help'], { t })
  t.same(await help.exited, { code: 0, signal: null })
  t.match(help.stdout(), /^usage: fastify-runner-metrics \[--config PATH\] \[--metrics-server ADDR\] \[--web-config-file PATH\] \[--help\] \[--version\]/)
  t.match(help.stdout(), /--listen-address ADDR/)
  t.match(help.stdout(), /SIGHUP reloads the config/)
  const version = runServer(['-v'], { t })
  t.same(await version.exited, { code: 0, signal: null })
  t.match(version.stdout(), /^fastify-runner-metrics \d+\.\d+\.\d+\n$/)
  const unknown = runServer(['--port', '9'], { t })
  t.equal((await unknown.exited).code, 2)
  t.match(unknown.stderr(), /^fastify-runner-metrics: Unknown option '--port'.*\nusage: fastify-runner-metrics /)
  const positional = runServer(['serve'], { t })
  t.equal((await positional.exited).code, 2)
  t.match(positional.stderr(), /Unexpected argument 'serve'/)
})

import { execFileSync } from 'node:child_process'
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import t from 'tap'
import { ConfigError, configFromObject, loadConfig, parseConfig } from '../lib/server/config.js'
import { startMetricsServer } from '../lib/server/index.js'

const REAL_GITLAB_RUNNER_CONFIG = `
concurrent = 10
check_interval = 3
log_level = "warning"
listen_address = ":9252"

[session_server]
  session_timeout = 1800

[[runners]]
  name = "docker-autoscaler"
  url = "https://gitlab.example.com"
  id = 42
  token = "glrt-SECRET-TOKEN"
  token_obtained_at = 2024-01-01T00:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  limit = 20
  environment = ["SECRET_ENV=hunter2"]
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      AccessKey = "AKIA-SECRET"
  [runners.docker]
    image = "alpine:latest"
    volumes = ["/cache"]

[[runners]]
  name = "shell"
  url = "https://gitlab.example.com"
  token = "glrt-OTHER"
  executor = "shell"
`

t.test('a real GitLab Runner config loads as-is', async (t) => {
  const config = parseConfig(REAL_GITLAB_RUNNER_CONFIG, 'config.toml')
  t.same(config, {
    metricsServer: { host: undefined, port: 9252 },
    concurrent: 10,
    logLevel: 'warn',
    webConfigFile: undefined,
    runners: [{ name: 'docker-autoscaler', limit: 20 }, { name: 'shell' }]
  })
})

t.test('defaults: disabled server, concurrent 1 as GitLab Runner, info logs, no runners', async (t) => {
  t.same(parseConfig('', 'empty.toml'), { metricsServer: undefined, concurrent: 1, logLevel: 'info', webConfigFile: undefined, runners: [] })
  t.equal(parseConfig('metrics_server = ""', 'c.toml').metricsServer, undefined, 'an empty address disables too')
})

t.test('metrics_server and listen_address are aliases', async (t) => {
  t.same(parseConfig('metrics_server = "127.0.0.1:9300"', 'c.toml').metricsServer, { host: '127.0.0.1', port: 9300 })
  t.same(parseConfig('metrics_server = "[::1]:1"\nlisten_address = "[::1]:1"', 'c.toml').metricsServer, { host: '::1', port: 1 })
  t.throws(() => parseConfig('metrics_server = ":1"\nlisten_address = ":2"', 'c.toml'), /c.toml: metrics_server and listen_address are aliases and disagree/)
})

t.test('runners sharing a name share a limit; limit 0 is GitLab Runner\'s "no limit"', async (t) => {
  const config = parseConfig(`
[[runners]]
name = "a"
limit = 2
[[runners]]
name = "a"
limit = 3
[[runners]]
name = "b"
limit = 0
[[runners]]
name = "c"
limit = 1
[[runners]]
name = "c"
`, 'c.toml')
  t.same(config.runners, [{ name: 'a', limit: 5, requestConcurrency: 2 }, { name: 'b' }, { name: 'c', requestConcurrency: 2 }], 'each entry brings its own request_concurrency (default 1)')
})

t.test('web_config_file is resolved against the config file\'s folder', async (t) => {
  t.equal(parseConfig('web_config_file = "web.yml"', '/etc/runner/config.toml').webConfigFile, '/etc/runner/web.yml')
  t.equal(parseConfig('web_config_file = "/abs/web.yml"', 'config.toml').webConfigFile, '/abs/web.yml')
  t.equal(configFromObject({ web_config_file: 'w.yml' }, '/base').webConfigFile, '/base/w.yml')
  t.equal(configFromObject({ web_config_file: '' }).webConfigFile, undefined)
})

t.test('wrong types and ranges: one line naming the file and key, no secret echoed', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['metrics_server = 12', /^c\.toml: metrics_server must be a string, got a number$/],
    ['listen_address = ["a"]', /^c\.toml: listen_address must be a string, got an array$/],
    ['metrics_server = "127.0.0.1:99999"', /^c\.toml: metrics_server: address "127\.0\.0\.1:99999": port "99999" is not a port number/],
    ['listen_address = "a b"', /^c\.toml: listen_address: address "a b"/],
    ['concurrent = "many"', /^c\.toml: concurrent must be an integer, got a string$/],
    ['concurrent = 1.5', /^c\.toml: concurrent must be an integer, got 1\.5$/],
    ['concurrent = -1', /^c\.toml: concurrent must not be negative, got -1$/],
    ['concurrent = 2024-01-01', /^c\.toml: concurrent must be an integer, got a date$/],
    ['log_level = "loud"', /^c\.toml: log_level must be one of trace, debug, info, warn, warning, error, fatal, panic \(any case\)$/],
    ['web_config_file = { a = 1 }', /^c\.toml: web_config_file must be a string, got a table$/],
    ['runners = "none"', /^c\.toml: runners must be an array of tables \(\[\[runners\]\]\), got a string$/],
    ['runners = [1]', /^c\.toml: runners\[0\] must be a table, got a number$/],
    ['[[runners]]\nname = "x"\nlimit = -3\ntoken = "glrt-SECRET"', /^c\.toml: runners\[0\] \("x"\)\.limit must not be negative, got -3$/],
    ['[[runners]]\nname = 7', /^c\.toml: runners\[0\]\.name must be a string, got a number$/],
    ['token = "glrt-SECRET', /^c\.toml: line 1, column \d+: invalid TOML: /],
    ['a = 1\nb = = 2', /^c\.toml: line 2, column 5: invalid TOML: invalid value$/]
  ]
  for (const [text, message] of cases) {
    const error = t.throws(() => parseConfig(text, 'c.toml'), ConfigError, text) as Error
    t.match(error.message, message, text)
    t.notMatch(error.message, /SECRET|\n/, 'one line, no secret')
  }
  t.throws(() => configFromObject([]), /the config must be a table, got an array/)
  t.throws(() => configFromObject(null), /the config must be a table, got null/)
})

t.test('loadConfig names the file it cannot read', async (t) => {
  const dir = t.testdir({ 'ok.toml': 'concurrent = 3', 'folder.toml': {}, 'locked.toml': 'concurrent = 1' })
  t.equal((await loadConfig(join(dir, 'ok.toml'))).concurrent, 3)
  await t.rejects(loadConfig(join(dir, 'missing.toml')), { name: 'ConfigError', message: `${join(dir, 'missing.toml')}: no such file` })
  await t.rejects(loadConfig(join(dir, 'folder.toml')), { message: /folder\.toml: is a folder, not a file$/ })
  await chmod(join(dir, 'locked.toml'), 0o000)
  if (process.getuid?.() === 0) {
    t.comment('running as root: an unreadable file cannot be made, so a file behind a non-folder stands in')
    await mkdir(join(dir, 'sub'))
    await writeFile(join(dir, 'plain'), '')
    await t.rejects(loadConfig(join(dir, 'plain', 'x.toml')), { message: /x\.toml: cannot be read \(ENOTDIR\)$/ })
  } else {
    await t.rejects(loadConfig(join(dir, 'locked.toml')), { message: /locked\.toml: permission denied$/ })
  }
})

t.test('deeply nested documents are rejected with one line, never a crash', async (t) => {
  for (const deep of [`a = ${'['.repeat(100000)}${']'.repeat(100000)}`, `a = ${'{b='.repeat(100000)}1${'}'.repeat(100000)}`]) {
    t.throws(() => parseConfig(deep, 'deep.toml'), { name: 'ConfigError', message: /^deep\.toml: line 1, column \d+: invalid TOML: document contains excessively nested structures\. aborting\.$/ })
  }
})

t.test('request_concurrency per runner as GitLab Runner reads it, and metrics_naming', async (t) => {
  const config = parseConfig(`
metrics_naming = "gitlab-runner"
[[runners]]
name = "a"
request_concurrency = 4
[[runners]]
name = "b"
request_concurrency = 0
`, 'c.toml')
  t.same(config.runners, [{ name: 'a', requestConcurrency: 4 }, { name: 'b' }], 'below 1 means 1, the default')
  t.equal(config.metricsNaming, 'gitlab-runner')
  t.equal(parseConfig('', 'c.toml').metricsNaming, undefined)
  t.throws(() => parseConfig('metrics_naming = "prometheus"', 'c.toml'), /^c\.toml: metrics_naming must be one of "runner", "gitlab-runner", got "prometheus"$/)
  t.throws(() => parseConfig('[[runners]]\nname = "a"\nrequest_concurrency = "2"', 'c.toml'), /^c\.toml: runners\[0\] \("a"\)\.request_concurrency must be an integer, got a string$/)
})

t.test('config errors carry a code and stay ConfigErrors', async (t) => {
  const error = t.throws(() => parseConfig('concurrent = "x"', 'c.toml'))
  t.ok(error instanceof ConfigError)
  t.match(error, { name: 'ConfigError', code: 'FST_RUNNER_METRICS_CONFIG_INVALID', message: 'c.toml: concurrent must be an integer, got a string' })
})

t.test('a config path that is a FIFO, a device or a socket is refused at once, never read', async (t) => {
  const dir = t.testdir({})
  const fifo = join(dir, 'config.toml')
  execFileSync('mkfifo', [fifo])
  await t.rejects(loadConfig(fifo), { name: 'ConfigError', message: `${fifo}: is not a regular file (a FIFO, socket or device)` })
  await t.rejects(loadConfig('/dev/zero'), { message: '/dev/zero: is not a regular file (a FIFO, socket or device)' })
})

t.test('log_level as GitLab Runner takes it: any case, and trace', async (t) => {
  t.equal(parseConfig('log_level = "TRACE"', 'c.toml').logLevel, 'trace')
  t.equal(parseConfig('log_level = "Warning"', 'c.toml').logLevel, 'warn')
  t.equal(parseConfig('log_level = "DEBUG"', 'c.toml').logLevel, 'debug')
  t.equal(parseConfig('log_level = "Panic"', 'c.toml').logLevel, 'fatal')
})

t.test('runners with an empty or no name load; their label is their position, never the token', async (t) => {
  const config = parseConfig('[[runners]]\nname = "named"\n[[runners]]\nname = ""\ntoken = "glrt-SECRET"\nlimit = 3\n[[runners]]\ntoken = "glrt-OTHER"\n', 'c.toml')
  t.same(config.runners, [{ name: 'named' }, { name: 'runners[1]', limit: 3 }, { name: 'runners[2]' }])
})

t.test('GitLab Runner\'s own example configs load, unknown keys ignored, and no token or URL reaches /metrics', async (t) => {
  const fixtures = fileURLToPath(new URL('fixtures/gitlab-runner/', import.meta.url))
  const files = (await readdir(fixtures)).filter((file) => file.endsWith('.toml'))
  t.ok(files.length >= 10, `${files.length} examples`)
  const names: Record<string, string[]> = {}
  for (const file of files) {
    const text = await readFile(join(fixtures, file), 'utf8')
    // Only the [[runners]] tables' own token and url: nested tables have URLs of their own (registries, caches).
    const secrets = [...text.matchAll(/^ {0,2}(?:token|url) = "([^"]+)"/gm)].map((match) => match[1]!)
    // GitLab's Kubernetes example listens on :9252; tests never bind fixed ports.
    const server = await startMetricsServer({ configFile: join(fixtures, file), metricsServer: '127.0.0.1:0', logger: pino({ level: 'silent' }) })
    const metrics = (await server.app.inject('/metrics')).body
    await server.close()
    names[file] = server.config.runners.map((runner) => runner.name)
    for (const secret of secrets) t.notOk(metrics.includes(secret), `${file}: ${secret} is not in /metrics`)
    t.match(metrics, /^runner_config_loaded_total 1$/m, `${file} loads`)
  }
  t.same(names['kubernetes-empty-name.toml'], ['runners[0]'], 'GitLab\'s Kubernetes example with name = ""')
  t.same(names['kubernetes-no-name.toml'], ['runners[0]'], 'and one with no name at all')
  t.same(names['testdata-test-config.toml'], ['test-docker-runner', 'test-shell-runner-1', 'test-shell-runner-2'])
  t.same((await loadConfig(join(fixtures, 'advanced-configuration-limits.toml'))).runners, [{ name: 'high-volume-runner', limit: 10, requestConcurrency: 3 }, { name: 'balanced-runner', limit: 5, requestConcurrency: 2 }])
  t.same((await loadConfig(join(fixtures, 'kubernetes-empty-name.toml'))).logLevel, 'debug')
})

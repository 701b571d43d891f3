import { once } from 'node:events'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { runServer } from './spawn-server.js'

// Every start of dist/server.js takes seconds on a busy machine.
t.setTimeout(180_000)

async function busyPort (t: { teardown: (cleanup: () => void) => void }): Promise<number> {
  const blocker = createNetServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  return (blocker.address() as { port: number }).port
}

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
  // At once: each start takes seconds on a busy machine.
  await Promise.all(cases.map(async ([args, message]) => {
    const server = runServer(args, { t })
    const { code } = await server.exited
    const lines = server.stderr().trimEnd().split('\n')
    t.equal(code, 1, args.join(' '))
    t.equal(lines.length, 1, 'one line')
    t.match(lines[0], /^fastify-runner-metrics: /)
    t.match(lines[0], message)
    t.notMatch(server.stderr(), /\n\s+at |SECRET/, 'no stack trace, no secret')
  }))
})

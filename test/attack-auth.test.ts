import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadWebConfig } from '../lib/server/web-config.js'
import { startMetricsServer } from '../lib/server/index.js'

// Hostile web_config_file paths: none may hang the server, fill its memory, or say "undefined".
t.test('a web_config_file that is a device, a FIFO or huge is refused in one line', { timeout: 30_000 }, async (t) => {
  const dir = t.testdir({})
  const fifo = join(dir, 'web.fifo')
  execFileSync('mkfifo', [fifo])
  const huge = join(dir, 'huge.yml')
  writeFileSync(huge, `# ${'x'.repeat(2 * 1024 * 1024)}\n`)
  await t.rejects(loadWebConfig('/dev/zero'), { name: 'WebConfigError', message: '/dev/zero: is not a regular file' })
  await t.rejects(loadWebConfig(fifo), { name: 'WebConfigError', message: `${fifo}: is not a regular file` })
  await t.rejects(loadWebConfig(huge), { name: 'WebConfigError', message: `${huge}: is larger than 1 MiB` })
  await t.rejects(startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, webConfigFile: fifo }), { message: /web\.fifo: is not a regular file$/ })
})

import { execFileSync } from 'node:child_process'
import bcrypt from 'bcryptjs'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BasicAuth } from '../lib/server/basic-auth.js'
import { WorkerCompare } from '../lib/server/auth-compare.js'
import { loadWebConfig } from '../lib/server/web-config.js'
import { startMetricsServer } from '../lib/server/index.js'

// Hostile web_config_file paths: none may hang the server, fill its memory, or say "undefined".
t.test('a web_config_file that is a device, a FIFO or huge is refused in one line', { timeout: 30_000 }, async (t) => {
  const dir = t.testdir({})
  const fifo = join(dir, 'web.fifo')
  execFileSync('mkfifo', [fifo])
  const huge = join(dir, 'huge.yml')
  writeFileSync(huge, `# ${'x'.repeat(5 * 1024 * 1024)}\n`)
  await t.rejects(loadWebConfig('/dev/zero'), { name: 'WebConfigError', message: '/dev/zero: is not a regular file (a FIFO, socket or device)' })
  await t.rejects(loadWebConfig(fifo), { name: 'WebConfigError', message: `${fifo}: is not a regular file (a FIFO, socket or device)` })
  await t.rejects(loadWebConfig(huge), { name: 'WebConfigError', message: `${huge}: is larger than 4 MiB; a config or web config file is never that big` })
  await t.rejects(startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, webConfigFile: fifo }), { message: /web\.fifo: is not a regular file \(a FIFO, socket or device\)$/ })
})

// A comparison that never ends (a stuck worker) would hold the one-at-a-time queue forever: every
// credential not yet remembered would get 429 until a restart. A cost-31 hash (days per check) is
// the stuck worker; the deadline leaves seconds for a worker to start under the tests' loader.
t.test('a comparison past its deadline ends the worker; the next one gets a new worker', { timeout: 60_000 }, async (t) => {
  const stuck = `$2b$31$${'a'.repeat(53)}`
  const quick = bcrypt.hashSync('quick', 4)
  const worker = new WorkerCompare(10_000)
  t.teardown(() => worker.close())
  await t.rejects(worker.compare('stuck', stuck), { message: 'the bcrypt worker stopped (a comparison took over 10000 ms)' })
  t.equal(await worker.compare('quick', quick), true, 'a new worker answers')
})

// Unknown users compared against a cost-10 dummy answer in a quarter of the time a cost-12 user
// does: the time of a 401 told which user names exist.
t.test('an unknown user is compared against a hash of the configured cost', async (t) => {
  const known = bcrypt.hashSync('right', 12)
  const compared: string[] = []
  const auth = new BasicAuth(async (_password, hash) => { compared.push(hash); return false }, new Map([['prometheus', known]]))
  t.equal(await auth.check({ user: 'nobody', password: 'right' }), 'fail')
  t.equal(await auth.check({ user: 'prometheus', password: 'wrong' }), 'fail')
  t.same(compared.map((hash) => hash.slice(0, 7)), ['$2b$12$', '$2b$12$'])
})

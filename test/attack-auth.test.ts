import { execFileSync } from 'node:child_process'
import bcrypt from 'bcryptjs'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { BasicAuth } from '../lib/server/basic-auth.js'
import { WorkerCompare, type Compare } from '../lib/server/auth-compare.js'
import { loadWebConfig } from '../lib/server/web-config.js'
import { startMetricsServer } from '../lib/server/index.js'
import { until } from './helpers.js'

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
// the stuck worker; the worker's start under the tests' loader (seconds) has a deadline of its own.
t.test('a comparison past its deadline ends the worker; the next one gets a new worker', { timeout: 60_000 }, async (t) => {
  const stuck = `$2b$31$${'a'.repeat(53)}`
  const quick = bcrypt.hashSync('quick', 4)
  const worker = new WorkerCompare(10_000)
  t.teardown(() => worker.close())
  await t.rejects(worker.compare('stuck', stuck), { message: 'the bcrypt worker stopped (a comparison took over 10000 ms)' })
  t.equal((await worker.compare('quick', quick)).matches, true, 'a new worker answers')
})

// Unknown users compared against a cost-10 dummy answer in a quarter of the time a cost-12 user
// does: the time of a 401 told which user names exist.
t.test('an unknown user is compared against a hash of the configured cost', async (t) => {
  const known = bcrypt.hashSync('right', 12)
  const compared: string[] = []
  const auth = new BasicAuth(async (_password, hash) => { compared.push(hash); return { matches: false, ms: 1 } }, new Map([['prometheus', known]]))
  t.equal(await auth.check({ user: 'nobody', password: 'right' }), 'fail')
  t.equal(await auth.check({ user: 'prometheus', password: 'wrong' }), 'fail')
  t.same(compared.map((hash) => hash.slice(0, 7)), ['$2b$12$', '$2b$12$'])
})

/** A compare whose answers the test gives, in the order asked, with what each was asked. */
function heldCompare (): { compare: Compare, asked: Array<{ password: string, hash: string }>, answer: (matches: boolean) => void, waiting: () => number } {
  const asked: Array<{ password: string, hash: string }> = []
  const waiting: Array<(matches: boolean) => void> = []
  return {
    asked,
    compare: async (password, hash) => {
      asked.push({ password, hash })
      return { matches: await new Promise<boolean>((resolve) => waiting.push(resolve)), ms: 1 }
    },
    answer: (matches) => { waiting.shift()!(matches) },
    waiting: () => waiting.length
  }
}

const turn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }
const RIGHT = bcrypt.hashSync('right', 4)

// Issue 23: wrong guesses from 64 or more addresses kept the queue's total full, and a right
// credential never seen before was answered 429 at once, on every try, for as long as they came.
t.test('a flood from 100 addresses never refuses a never-seen credential of another user, which is compared next', async (t) => {
  const held = heldCompare()
  const auth = new BasicAuth(held.compare, new Map([['prometheus', RIGHT], ['late', RIGHT]]))
  const flood: Array<Promise<string>> = []
  for (let address = 0; address < 100; address++) {
    for (let guess = 0; guess < 4; guess++) flood.push(auth.check({ user: 'prometheus', password: `guess-${address}-${guess}` }, `10.0.${address}.1`))
  }
  await turn()
  const good = auth.check({ user: 'late', password: 'right' }, '10.9.9.9')
  await turn()
  t.equal(held.asked.length, 1, 'one comparison at a time')
  held.answer(false)
  await turn()
  t.equal(held.asked[1]?.password, 'right', 'the other user\'s check is compared next, not behind the flood')
  held.answer(true)
  t.equal(await good, 'pass')
  // The flood is answered (401 or 429), never left hanging.
  const flooded = Promise.all(flood)
  while (!(await Promise.race([flooded.then(() => true), turn().then(() => false)]))) {
    if (held.waiting() > 0) held.answer(false)
  }
  t.ok((await flooded).every((verdict) => verdict === 'fail' || verdict === 'busy'))
})

t.test('a never-seen right credential from a fresh address gets through a flood of that very user from 100 addresses', async (t) => {
  const held = heldCompare()
  const auth = new BasicAuth(held.compare, new Map([['prometheus', RIGHT]]))
  const source = (address: number): string => `10.0.${address}.1`
  // Every flooding address has had a guess compared already.
  for (let address = 0; address < 100; address++) {
    const first = auth.check({ user: 'prometheus', password: `first-${address}` }, source(address))
    await turn()
    held.answer(false)
    t.equal(await first, 'fail')
  }
  const flood: Array<Promise<string>> = []
  for (let address = 0; address < 100; address++) {
    for (let guess = 0; guess < 4; guess++) flood.push(auth.check({ user: 'prometheus', password: `guess-${address}-${guess}` }, source(address)))
  }
  await turn()
  const good = auth.check({ user: 'prometheus', password: 'right' }, '10.9.9.9')
  await turn()
  held.answer(false)
  await turn()
  t.equal(held.asked.at(-1)?.password, 'right', 'compared right after the comparison in progress')
  held.answer(true)
  t.equal(await good, 'pass')
})

t.test('once a user has passed, guesses for that user cost no comparison', async (t) => {
  let compared = 0
  const auth = new BasicAuth(async (password) => { compared++; return { matches: password === 'right', ms: 1 } }, new Map([['prometheus', RIGHT]]))
  t.equal(await auth.check({ user: 'prometheus', password: 'right' }, '10.0.0.1'), 'pass')
  for (let guess = 0; guess < 200; guess++) t.equal(await auth.check({ user: 'prometheus', password: `guess-${guess}` }, `10.1.${guess}.1`), 'fail')
  t.equal(compared, 1, 'decided without bcrypt')
  t.equal(await auth.check({ user: 'prometheus', password: 'right' }, '10.0.0.2'), 'pass')
})

// Issue 23: a check that began before a reload removing the user was answered pass after it.
t.test('a check in flight is judged against the users in force when it ends', async (t) => {
  const held = heldCompare()
  const auth = new BasicAuth(held.compare, new Map([['prometheus', RIGHT]]))
  const removed = auth.check({ user: 'prometheus', password: 'right' }, '10.0.0.1')
  await turn()
  auth.use(new Map([['other', RIGHT]]))
  held.answer(true)
  t.equal(await removed, 'fail', 'the user was removed while it was compared')

  const rotated = bcrypt.hashSync('new', 4)
  // Another hash of the same password: the pass of the first part is remembered for RIGHT.
  auth.use(new Map([['prometheus', bcrypt.hashSync('right', 4)]]))
  const changed = auth.check({ user: 'prometheus', password: 'right' }, '10.0.0.1')
  await turn()
  auth.use(new Map([['prometheus', rotated]]))
  held.answer(true)
  await turn()
  t.equal(held.asked.at(-1)?.hash, rotated, 'compared again, against the new hash')
  held.answer(false)
  t.equal(await changed, 'fail')

  // Reloads that change the hash during every comparison: it gives up, refusing, after four.
  auth.use(new Map([['prometheus', bcrypt.hashSync('right', 4)]]))
  const rotating = auth.check({ user: 'prometheus', password: 'right' }, '10.0.0.1')
  for (let round = 0; round < 4; round++) {
    await until(() => held.waiting() === 1)
    auth.use(new Map([['prometheus', bcrypt.hashSync('right', 4)]]))
    held.answer(true)
  }
  t.equal(await rotating, 'fail')
})

// Issue 23, end to end: a scrape whose bcrypt check began before a reload that removed its user
// was answered 200 after the reload had reported ok.
t.test('no answer sent after a reload reports ok lets in a user it removed', { timeout: 60_000 }, async (t) => {
  // Cost 14: about a second per comparison here, so the reload lands while it runs.
  const slow = bcrypt.hashSync('right', 14)
  const dir = t.testdir({ 'web.yml': `basic_auth_users:\n  prometheus: ${slow}\n  other: ${RIGHT}\n` })
  const server = await startMetricsServer({ config: { metrics_server: '127.0.0.1:0' }, webConfigFile: join(dir, 'web.yml') })
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${server.address()!.port}/metrics`
  const authorization = `Basic ${Buffer.from('prometheus:right').toString('base64')}`
  let reloadedAt = Infinity
  const answered = fetch(url, { headers: { authorization } }).then((response) => ({ status: response.status, at: performance.now() }))
  writeFileSync(join(dir, 'web.yml'), `basic_auth_users:\n  other: ${RIGHT}\n`)
  t.same(await server.reload(), { ok: true })
  reloadedAt = performance.now()
  const answer = await answered
  t.ok(answer.at > reloadedAt, 'answered after the reload reported ok')
  t.equal(answer.status, 401)
})

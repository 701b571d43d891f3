import bcrypt from 'bcryptjs'
import t from 'tap'
import { BasicAuth, parseBasicAuth } from '../lib/server/basic-auth.js'
import { FairQueue } from '../lib/server/auth-queue.js'

const header = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`
const HASH = bcrypt.hashSync('s3cret', 4)

t.test('parseBasicAuth reads user and password, or nothing', async (t) => {
  t.same(parseBasicAuth(header('prometheus:pa:ss')), { user: 'prometheus', password: 'pa:ss' }, 'the password may hold colons')
  t.same(parseBasicAuth(`basic   ${Buffer.from('u:').toString('base64')}`), { user: 'u', password: '' })
  t.equal(parseBasicAuth(undefined), undefined)
  t.equal(parseBasicAuth('Bearer abc'), undefined)
  t.equal(parseBasicAuth(header('no colon')), undefined)
  t.equal(parseBasicAuth('Basic !!!'), undefined)
})

/** BasicAuth over bcryptjs in this thread, with the hashes it was asked to compare against. */
function countingAuth (users: Map<string, string>): { auth: BasicAuth, compared: string[] } {
  const compared: string[] = []
  const auth = new BasicAuth(async (password, hash) => { compared.push(hash); return await bcrypt.compare(password, hash) }, users)
  return { auth, compared }
}

t.test('right password passes, wrong or unknown fails, nothing configured means not required', async (t) => {
  const { auth } = countingAuth(new Map([['prometheus', HASH]]))
  t.equal(auth.required, true)
  t.equal(await auth.check({ user: 'prometheus', password: 's3cret' }), 'pass')
  t.equal(await auth.check({ user: 'prometheus', password: 'wrong' }), 'fail')
  t.equal(await auth.check({ user: 'nobody', password: 's3cret' }), 'fail')
  t.equal(await auth.check(undefined), 'fail')
  auth.use(new Map())
  t.equal(auth.required, false)
})

t.test('a passed check is remembered: a scrape every second pays bcrypt once', async (t) => {
  const { auth, compared } = countingAuth(new Map([['p', HASH]]))
  for (let i = 0; i < 100; i++) t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  t.same(compared, [HASH], 'one bcrypt comparison for a hundred checks')
  t.equal(await auth.check({ user: 'p', password: 's3cre' }), 'fail', 'a different password is not served from the cache')
  t.equal(compared.length, 2)
})

t.test('a failed check is remembered too: a repeated guess costs nothing (exporter-toolkit caches both)', async (t) => {
  const { auth, compared } = countingAuth(new Map([['p', bcrypt.hashSync('s3cret', 10)]]))
  t.equal(await auth.check({ user: 'nobody', password: 's3cret' }), 'fail')
  t.equal(compared.length, 1, 'an unknown user costs a comparison')
  t.match(compared[0], /^\$2b\$10\$/, 'against a cost-10 dummy hash, as a known user would')
  t.equal(await auth.check({ user: 'nobody', password: 's3cret' }), 'fail')
  t.equal(await auth.check({ user: 'p', password: 'guess' }), 'fail')
  t.equal(await auth.check({ user: 'p', password: 'guess' }), 'fail')
  t.equal(compared.length, 2, 'each guess compared once')
})

t.test('no number of wrong guesses evicts the right password', async (t) => {
  let compared = 0
  const auth = new BasicAuth(async (password) => { compared++; return password === 's3cret' }, new Map([['p', HASH]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  for (let i = 0; i < 5000; i++) await auth.check({ user: 'p', password: `guess${i}` })
  t.equal(compared, 5001)
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  t.equal(compared, 5001, 'still remembered: passes and failures live apart')
})

t.test('what is remembered is bounded: the least recently seen goes first', async (t) => {
  const users = new Map(Array.from({ length: 120 }, (_, index) => [`u${index}`, HASH] as [string, string]))
  const { auth, compared } = countingAuth(users)
  for (const user of users.keys()) t.equal(await auth.check({ user, password: 's3cret' }), 'pass')
  t.equal(compared.length, 120)
  t.equal(await auth.check({ user: 'u119', password: 's3cret' }), 'pass')
  t.equal(compared.length, 120, 'a recent one is still remembered')
  t.equal(await auth.check({ user: 'u0', password: 's3cret' }), 'pass')
  t.equal(compared.length, 121, 'an evicted one goes through bcrypt again')
})

t.test('a changed hash or a removed user is never served from memory', async (t) => {
  const { auth, compared } = countingAuth(new Map([['p', HASH]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  auth.use(new Map([['p', bcrypt.hashSync('other', 4)]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'fail')
  auth.use(new Map([['q', HASH]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'fail')
  t.equal(compared.length, 3)
})

/** A compare whose answers the test gives, one by one, in the order asked. */
function manualCompare (): { compare: (password: string, hash: string) => Promise<boolean>, asked: string[], answer: (matches: boolean | Error) => void } {
  const asked: string[] = []
  const waiting: Array<(matches: boolean | Error) => void> = []
  return {
    asked,
    compare: async (password) => {
      asked.push(password)
      const outcome = await new Promise<boolean | Error>((resolve) => waiting.push(resolve))
      if (outcome instanceof Error) throw outcome
      return outcome
    },
    answer: (matches) => { waiting.shift()!(matches) }
  }
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('one comparison at a time, turns between addresses, bounded waiting, the same guess compared once', async (t) => {
  const manual = manualCompare()
  const auth = new BasicAuth(manual.compare, new Map([['p', HASH]]))
  const flood = Array.from({ length: 5 }, (_, index) => auth.check({ user: 'p', password: `f${index}` }, '10.0.0.66'))
  const same = [auth.check({ user: 'x', password: 'dup' }, '10.0.0.67'), auth.check({ user: 'x', password: 'dup' }, '10.0.0.68')]
  const good = auth.check({ user: 'p', password: 's3cret' }, '10.0.0.9')
  t.equal(await auth.check({ user: 'p', password: 'f9' }, '10.0.0.66'), 'busy', 'a fifth waiting guess from one address is refused at once')
  await tick()
  t.same(manual.asked, ['f0'], 'one at a time')
  manual.answer(false)
  await tick()
  t.same(manual.asked, ['f0', 'dup'], 'the next address takes its turn, not the flood')
  manual.answer(false)
  await tick()
  t.same(manual.asked, ['f0', 'dup', 's3cret'], 'a good check waits one comparison per busy address')
  manual.answer(true)
  t.equal(await good, 'pass')
  t.same(await Promise.all(same), ['fail', 'fail'], 'both answered by one comparison')
  for (let i = 1; i < 5; i++) {
    await tick()
    manual.answer(false)
  }
  t.same(await Promise.all(flood), ['fail', 'fail', 'fail', 'fail', 'fail'])
  t.same(manual.asked, ['f0', 'dup', 's3cret', 'f1', 'f2', 'f3', 'f4'])
})

t.test('a comparison that fails rejects the check, and is not remembered', async (t) => {
  const manual = manualCompare()
  const auth = new BasicAuth(manual.compare, new Map([['p', HASH]]))
  const first = auth.check({ user: 'p', password: 's3cret' })
  await tick()
  manual.answer(new Error('worker gone'))
  await t.rejects(first, { message: 'worker gone' })
  const second = auth.check({ user: 'p', password: 's3cret' })
  await tick()
  manual.answer(true)
  t.equal(await second, 'pass', 'the next check compares again')
})

t.test('the queue is bounded in all, too', async (t) => {
  const queue = new FairQueue(2, 3)
  const release: Array<() => void> = []
  const job = async (): Promise<void> => { await new Promise<void>((resolve) => release.push(resolve)) }
  const runs = ['a', 'a', 'b', 'c'].map((source) => queue.run(source, job))
  t.equal(runs.filter((run) => run === undefined).length, 0, 'the first one runs at once, three wait')
  t.equal(queue.run('d', job), undefined, 'a fourth waiting one is refused')
  t.equal(queue.run('a', job), undefined)
  while (release.length > 0) {
    release.shift()!()
    await tick()
  }
  await Promise.all(runs)
  t.pass('all ran')
})

import bcrypt from 'bcryptjs'
import t from 'tap'
import { BasicAuth, parseBasicAuth } from '../lib/server/basic-auth.js'
import type { Compare } from '../lib/server/auth-compare.js'

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
  const auth = new BasicAuth(async (password, hash) => { compared.push(hash); return { matches: await bcrypt.compare(password, hash), ms: 1 } }, users)
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
  t.equal(compared.length, 1, 'and is decided by what bcrypt reads of it, against the password that matched')
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
  // Wrong guesses wait as long as a comparison took: not here.
  const auth = new BasicAuth(async (password) => { compared++; return { matches: password === 's3cret', ms: 1 } }, new Map([['p', HASH]]), async () => {})
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  for (let i = 0; i < 5000; i++) await auth.check({ user: 'p', password: `guess${i}` })
  t.equal(compared, 1, 'the guesses cost no comparison: the user\'s password is known')
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  t.equal(compared, 1, 'still remembered: passes and failures live apart')
})

t.test('what is remembered is bounded: the least recently seen goes first', async (t) => {
  const users = new Map(Array.from({ length: 120 }, (_, index) => [`u${index}`, HASH] as [string, string]))
  const { auth, compared } = countingAuth(users)
  for (const user of users.keys()) t.equal(await auth.check({ user, password: 's3cret' }), 'pass')
  t.equal(compared.length, 120)
  t.equal(await auth.check({ user: 'u119', password: 's3cret' }), 'pass')
  t.equal(compared.length, 120, 'a recent one is still remembered')
  t.equal(await auth.check({ user: 'u0', password: 's3cret' }), 'pass')
  t.equal(compared.length, 120, 'an evicted pass is decided by the user\'s known password, not bcrypt')
})

t.test('a changed hash or a removed user is never served from memory', async (t) => {
  const { auth, compared } = countingAuth(new Map([['p', HASH]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  auth.use(new Map([['p', bcrypt.hashSync('other', 4)]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'fail')
  auth.use(new Map([['q', HASH]]))
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'fail')
  t.equal(compared.length, 2, 'a user no longer there costs no comparison: its cost was timed')
})

/** A compare whose answers the test gives, one by one, in the order asked. */
function manualCompare (): { compare: Compare, asked: string[], answer: (matches: boolean | Error) => void } {
  const asked: string[] = []
  const waiting: Array<(matches: boolean | Error) => void> = []
  return {
    asked,
    compare: async (password) => {
      asked.push(password)
      const outcome = await new Promise<boolean | Error>((resolve) => waiting.push(resolve))
      if (outcome instanceof Error) throw outcome
      return { matches: outcome, ms: 1 }
    },
    answer: (matches) => { waiting.shift()!(matches) }
  }
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

t.test('one comparison at a time, turns between users and addresses, bounded waiting, the same guess compared once', async (t) => {
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
  t.same(manual.asked, ['f0', 'dup'], 'the unknown user\'s turn (its first, which times the stand-in), not the flood')
  manual.answer(false)
  await tick()
  t.same(manual.asked, ['f0', 'dup', 's3cret'], 'then the address that used bcrypt least')
  manual.answer(true)
  t.equal(await good, 'pass')
  t.same(await Promise.all(same), ['fail', 'fail'], 'both answered by one comparison')
  t.same(await Promise.all(flood), ['fail', 'fail', 'fail', 'fail', 'fail'])
  t.same(manual.asked, ['f0', 'dup', 's3cret'], 'the guesses still waiting were decided without bcrypt once the password was known')
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

t.test('checks decided without bcrypt are answered after the time a comparison of that cost took', async (t) => {
  let compared = 0
  const slept: number[] = []
  const auth = new BasicAuth(async (password) => {
    compared++
    return { matches: password === 's3cret', ms: 42 }
  }, new Map([['p', HASH]]), async (ms) => { slept.push(ms) })
  t.equal(await auth.check({ user: 'p', password: 's3cret' }), 'pass')
  t.equal(await auth.check({ user: 'nobody', password: 'guess' }), 'fail', 'an unknown user')
  t.equal(await auth.check({ user: 'p', password: 'guess' }), 'fail', 'a wrong password of a user whose password is known')
  t.equal(compared, 1, 'neither costs a comparison')
  t.equal(slept.length, 2)
  t.same(slept, [42, 42], 'each waited as long as the comparison took')
  t.equal(await auth.check({ user: 'nobody', password: 'guess' }), 'fail')
  t.equal(slept.length, 2, 'a repeated guess is answered from memory, at once, as before')
})

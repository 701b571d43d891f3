import bcrypt from 'bcryptjs'
import t from 'tap'
import { WorkerCompare } from '../lib/server/auth-compare.js'

const HASH = bcrypt.hashSync('s3cret', 4)

t.test('compares in a worker thread: right and wrong passwords', async (t) => {
  const worker = new WorkerCompare()
  t.teardown(() => worker.close())
  t.equal((await worker.compare('s3cret', HASH)).matches, true)
  t.equal((await worker.compare('wrong', HASH)).matches, false)
  t.same((await Promise.all([worker.compare('s3cret', HASH), worker.compare('x', HASH), worker.compare('s3cret', HASH)])).map(({ matches }) => matches), [true, false, true], 'answers go to the comparison that asked')
})

t.test('a worker that fails rejects what is pending and the next comparison gets a new worker', async (t) => {
  const worker = new WorkerCompare()
  t.teardown(() => worker.close())
  // bcryptjs throws on a password that is not a string: the worker dies of it.
  await t.rejects(worker.compare(42 as unknown as string, HASH), { message: /^the bcrypt worker stopped \(Illegal arguments/ })
  t.equal((await worker.compare('s3cret', HASH)).matches, true, 'a new worker answers')
  await worker.close()
  t.equal((await worker.compare('s3cret', HASH)).matches, true, 'and after close, another one')
})

t.test('close before any comparison, and twice', async (t) => {
  const worker = new WorkerCompare()
  await worker.close()
  await worker.close()
  t.pass()
})

// A worker's start under a busy machine (or the tests' TypeScript loader) took seconds, and was
// counted in the first comparison's deadline: it then failed as stuck. The start has its own.
t.test('a worker that does not start in time is ended; the deadline of a comparison counts from the start', async (t) => {
  const hasty = new WorkerCompare(1)
  t.teardown(() => hasty.close())
  await t.rejects(hasty.compare('s3cret', HASH), { message: 'the bcrypt worker stopped (it did not start within 1 ms)' })
})

t.test('a comparison reports its own time, not the worker\'s start', async (t) => {
  const worker = new WorkerCompare()
  t.teardown(() => worker.close())
  const started = performance.now()
  const { ms } = await worker.compare('s3cret', HASH)
  t.ok(ms > 0 && ms < performance.now() - started, `${ms.toFixed(1)} ms of ${(performance.now() - started).toFixed(0)}`)
})

import t from 'tap'
import { TokenBucket } from '../lib/server/rate-limit.js'

t.test('a token bucket as golang.org/x/time/rate: full at start, one token per interval, never more than burst', async (t) => {
  let now = 1000
  const bucket = new TokenBucket({ intervalMs: 1000, burst: 3 }, () => now)
  t.same([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false], 'the burst, then no more')
  now += 999
  t.equal(bucket.take(), false, 'not a whole token yet')
  now += 1
  t.equal(bucket.take(), true, 'one interval: one token')
  t.equal(bucket.take(), false)
  now += 60_000
  t.same([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [true, true, true, false], 'a long pause refills to burst, not beyond')
})

t.test('by default it reads the monotonic clock', async (t) => {
  const bucket = new TokenBucket({ intervalMs: 3_600_000, burst: 1 })
  t.equal(bucket.take(), true)
  t.equal(bucket.take(), false)
})

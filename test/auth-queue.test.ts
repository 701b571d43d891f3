import t from 'tap'
import { FairQueue, sourceOf } from '../lib/server/auth-queue.js'

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

/** A queue on a clock the test moves, and jobs that end when the test says, each taking `ms` of that clock. */
function harness (perSource: number, perLane: number, total: number): {
  queue: FairQueue
  clock: { now: number }
  ran: string[]
  job: (name: string) => () => Promise<string>
  finish: (ms?: number) => Promise<void>
} {
  const clock = { now: 0 }
  const ran: string[] = []
  const ends: Array<() => void> = []
  const queue = new FairQueue(perSource, perLane, total, () => clock.now)
  return {
    queue,
    clock,
    ran,
    job: (name) => async () => {
      ran.push(name)
      await new Promise<void>((resolve) => ends.push(resolve))
      return name
    },
    finish: async (ms = 0) => {
      clock.now += ms
      ends.shift()!()
      await tick()
    }
  }
}

t.test('bounded per source: one running and four waiting, then refused at once', async (t) => {
  const { queue, job, finish } = harness(4, 64, 1024)
  const runs = [0, 1, 2, 3, 4].map((index) => queue.run('user', 'a', job(`a${index}`)))
  t.equal(queue.run('user', 'a', job('a5')), undefined)
  t.ok(queue.run('user', 'b', job('b0')), 'another source is still let in')
  for (let index = 0; index < 6; index++) await finish()
  t.same(await Promise.all(runs), ['a0', 'a1', 'a2', 'a3', 'a4'])
})

t.test('lanes take turns; in a lane the source that used the least time goes first', async (t) => {
  const { queue, ran, job, finish } = harness(4, 64, 1024)
  queue.run('flooded', 'a', job('a0'))
  queue.run('flooded', 'a', job('a1'))
  queue.run('flooded', 'a', job('a2'))
  queue.run('other', 'b', job('b0'))
  queue.run('flooded', 'c', job('c0'))
  await finish(80)
  t.same(ran, ['a0', 'b0'], 'the other lane, not the flood')
  await finish(80)
  t.same(ran, ['a0', 'b0', 'c0'], 'the source that used nothing, before the one that used 80 ms')
  await finish(80)
  await finish(80)
  t.same(ran, ['a0', 'b0', 'c0', 'a1', 'a2'])
  await finish()
})

t.test('at the lane\'s bound, a newcomer displaces the heaviest source\'s newest job, if that source weighs more', async (t) => {
  const { queue, ran, job, finish } = harness(4, 3, 1024)
  // a has used 100 ms; then it fills the lane.
  const first = queue.run('user', 'a', job('a0'))
  await finish(100)
  t.equal(await first, 'a0')
  const running = queue.run('user', 'z', job('z0'))
  const waiting = ['a1', 'a2', 'a3'].map((name) => queue.run('user', 'a', job(name)))
  t.equal(queue.run('user', 'a', job('a4')), undefined, 'a may not displace its own')
  const fresh = queue.run('user', 'f', job('f0'))
  t.ok(fresh, 'a source that used nothing gets in')
  await t.rejects(waiting[2]!, { name: 'Displaced' }, 'in place of a\'s newest')
  t.ok(queue.run('user', 'g', job('g0')), 'and the next fresh one too')
  await t.rejects(waiting[1]!, { name: 'Displaced' })
  t.ok(queue.run('user', 'h', job('h0')), 'a heavier source goes even with a single job waiting')
  await t.rejects(waiting[0]!, { name: 'Displaced' })
  t.equal(queue.run('user', 'i', job('i0')), undefined, 'the lane is full of single jobs of sources no heavier than i')
  for (let index = 0; index < 4; index++) await finish()
  t.same(ran, ['a0', 'z0', 'f0', 'g0', 'h0'])
  t.equal(await running, 'z0')
  t.equal(await fresh, 'f0')
})

t.test('asking counts: the source that asked most loses its newest; between equals, one waiting two more than the newcomer', async (t) => {
  const { queue, job, finish } = harness(4, 3, 1024)
  queue.run('user', 'z', job('z0'))
  const a = ['a0', 'a1', 'a2'].map((name) => queue.run('user', 'a', job(name)))
  t.ok(queue.run('user', 'b', job('b0')))
  await t.rejects(a[2]!, { name: 'Displaced' })
  t.ok(queue.run('user', 'c', job('c0')), 'a asked three times, c once')
  await t.rejects(a[1]!, { name: 'Displaced' })
  t.ok(queue.run('user', 'd', job('d0')), 'a still weighs more, with one job left')
  await t.rejects(a[0]!, { name: 'Displaced' })
  t.equal(queue.run('user', 'e', job('e0')), undefined, 'b, c and d asked once each, as e: e is refused')
  for (let index = 0; index < 4; index++) await finish()
})

t.test('bounded in all: the heaviest source in any lane makes room, or the newcomer is refused', async (t) => {
  const { queue, job, finish } = harness(4, 64, 3)
  queue.run('one', 'z', job('z0'))
  const waiting = ['a0', 'a1'].map((name) => queue.run('one', 'a', job(name)))
  queue.run('two', 'b', job('b0'))
  t.ok(queue.run('three', 'c', job('c0')), 'room made in another lane')
  await t.rejects(waiting[1]!, { name: 'Displaced' })
  t.ok(queue.run('four', 'd', job('d0')), 'a asked twice')
  await t.rejects(waiting[0]!, { name: 'Displaced' })
  t.equal(queue.run('five', 'e', job('e0')), undefined, 'three single jobs of sources that weigh the same as e')
  for (let index = 0; index < 4; index++) await finish()
})

t.test('what a source used halves every 30 s; only 4096 sources are remembered', async (t) => {
  const { queue, clock, ran, job, finish } = harness(4, 64, 1024)
  queue.run('user', 'a', job('a0'))
  await finish(100)
  clock.now += 60_000
  // a's 100 ms are 25 ms now; b used 30.
  queue.run('user', 'b', job('b0'))
  await finish(30)
  queue.run('user', 'z', job('z0'))
  queue.run('user', 'b', job('b1'))
  queue.run('user', 'a', job('a1'))
  await finish()
  t.same(ran.slice(-2), ['z0', 'a1'], 'a, at 25 ms, before b at 30')
  await finish()
  await finish()
  // 4096 other sources charged after a: a is forgotten, as new.
  for (let index = 0; index < 4096; index++) {
    queue.run('user', `s${index}`, job(`s${index}`))
    await finish(1)
  }
  // Held by a source remembered already, so that charging it forgets nobody more.
  queue.run('user', 's4095', job('s4095 again'))
  queue.run('user', 's0', job('s0 again'))
  queue.run('user', 'a', job('a2'))
  await finish()
  t.equal(ran.at(-1), 'a2', 'forgotten: it goes before s0, which used 1 ms')
  await finish()
  await finish()
})

t.test('sourceOf: an address, an IPv4-mapped one as IPv4, IPv6 by its /64', async (t) => {
  t.equal(sourceOf('10.1.2.3'), '10.1.2.3')
  t.equal(sourceOf('::ffff:10.1.2.3'), '10.1.2.3')
  t.equal(sourceOf('::FFFF:10.1.2.3'), '10.1.2.3')
  t.equal(sourceOf('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64')
  t.equal(sourceOf('2001:0DB8:0001:0002::7'), '2001:db8:1:2::/64')
  t.equal(sourceOf('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(sourceOf('2001:db8:1:2:3::'), '2001:db8:1:2::/64')
  t.equal(sourceOf('fe80::1%eth0'), 'fe80:0:0:0::/64')
  t.equal(sourceOf('::1'), '0:0:0:0::/64')
  t.equal(sourceOf('64:ff9b::10.1.2.3'), '64:ff9b:0:0::/64')
  t.equal(sourceOf(undefined), '')
})

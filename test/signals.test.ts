import t from 'tap'
import { holdSignals, signalExitCode, type SignalHandlers } from '../lib/server/signals.js'

const SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const

/** holdSignals on this process, its listeners removed when the test ends; signals are emitted, not sent. */
function held (t: { teardown: (cleanup: () => void) => void }): ReturnType<typeof holdSignals> {
  const before = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]))
  t.teardown(() => {
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) if (!before.get(signal)!.includes(listener)) process.off(signal, listener)
    }
  })
  return holdSignals()
}

function recorder (): { calls: string[], handlers: SignalHandlers } {
  const calls: string[] = []
  return { calls, handlers: { reload: () => calls.push('reload'), stop: (signal) => calls.push(`stop ${signal}`), stopNow: (signal) => calls.push(`now ${signal}`) } }
}

t.test('signals before the server is ready wait for it: any number of SIGHUPs is one reload', async (t) => {
  const signals = held(t)
  process.emit('SIGHUP', 'SIGHUP')
  process.emit('SIGHUP', 'SIGHUP')
  const { calls, handlers } = recorder()
  signals.handle(handlers)
  t.same(calls, ['reload'])
  process.emit('SIGHUP', 'SIGHUP')
  t.same(calls, ['reload', 'reload'], 'and after, each is one')
})

t.test('a stop before ready wins over a pending reload; a second stop is at once', async (t) => {
  const signals = held(t)
  process.emit('SIGHUP', 'SIGHUP')
  process.emit('SIGINT', 'SIGINT')
  const { calls, handlers } = recorder()
  signals.handle(handlers)
  t.same(calls, ['stop SIGINT'])
  process.emit('SIGTERM', 'SIGTERM')
  t.same(calls, ['stop SIGINT', 'now SIGTERM'])
})

t.test('two stop signals before ready end the process at once, 128 + the signal', async (t) => {
  held(t)
  const exits: Array<number | undefined> = []
  t.intercept(process, 'exit', { value: (code?: number) => { exits.push(code) } })
  process.emit('SIGTERM', 'SIGTERM')
  t.same(exits, [])
  process.emit('SIGINT', 'SIGINT')
  t.same(exits, [130])
  t.equal(signalExitCode('SIGTERM'), 143)
})

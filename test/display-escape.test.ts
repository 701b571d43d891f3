import { join } from 'node:path'
import t from 'tap'
import { runServer } from './spawn-server.js'

// Every start of dist/server.js takes seconds on a busy machine.
t.setTimeout(120_000)

// U+009B (CSI) is ESC [ on many terminals, U+202E reverses what follows, U+2028 is a line break
// to many readers: JSON.stringify, which escapes C0 controls only, wrote all three raw.
const HOSTILE_NAME = 'evil\u009b2J\u202egnp.exe\u2028fake'
const NAME_IN_TOML = 'evil\\u009B2J\\u202Egnp.exe\\u2028fake'

t.test('a runner name with C1 controls, a bidi override and U+2028 reaches the start error on stderr escaped', async (t) => {
  const dir = t.testdir({ 'limit.toml': `[[runners]]\nname = "${NAME_IN_TOML}"\nlimit = -1\n` })
  const server = runServer(['--config', join(dir, 'limit.toml')], { t })
  const { code } = await server.exited
  const stderr = server.stderr()
  t.equal(code, 1)
  t.ok(stderr.includes('evil'), 'the name is in the message')
  // A message holding a raw U+2028 would break the TAP stream itself: it names no character.
  t.notOk(/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(stderr.trimEnd()), 'no control or format character raw')
  t.ok(stderr.trimEnd().endsWith('limit.toml: runners[0] ("evil\\x9b2J\\u{202e}gnp.exe\\u{2028}fake").limit must not be negative, got -1'), 'escaped as the jobs list escapes')
  t.notOk(stderr.includes(HOSTILE_NAME))
})

t.test('quote: every character a terminal or reader acts on is an escape, the rest as it is', async (t) => {
  const { quote } = await import('../lib/tracker/describe.js')
  const cases: Array<[string, string]> = [
    ['docker-1', '"docker-1"'],
    ['', '""'],
    ['back\\slash "quoted"', String.raw`"back\\slash \"quoted\""`],
    ['nul\0 bel\x07 esc\x1b[2J tab\t lf\n cr\r del\x7f', String.raw`"nul\x00 bel\x07 esc\x1b[2J tab\x09 lf\x0a cr\x0d del\x7f"`],
    ['csi\u009b nel\u0085 pad\u0080 apc\u009f', String.raw`"csi\x9b nel\x85 pad\x80 apc\x9f"`],
    ['rlo\u202e lri\u2066 zwj\u200d bom\ufeff shy\u00ad tag\u{e0041}', String.raw`"rlo\u{202e} lri\u{2066} zwj\u{200d} bom\u{feff} shy\xad tag\u{e0041}"`],
    ['ls\u2028 ps\u2029', String.raw`"ls\u{2028} ps\u{2029}"`],
    ['lone\ud800 low\udc00', String.raw`"lone\u{d800} low\u{dc00}"`],
    ['café ünïcode 日本 😀 nbsp\u00a0', '"café ünïcode 日本 😀 nbsp\u00a0"']
  ]
  for (const [value, shown] of cases) t.equal(quote(value), shown, shown)
})

t.test('printable and cutShort', async (t) => {
  const { cutShort, printable } = await import('../lib/tracker/describe.js')
  t.ok(printable('docker-1 "x" \\ 日本 😀'))
  for (const value of ['\x1b', '\u009b', '\u202e', '\u2028', '\ud800', 'a\u{e0041}']) t.notOk(printable(value), quoteless(value))
  t.equal(cutShort('abcdef', 6), 'abcdef')
  t.equal(cutShort('abcdefg', 6), 'abcdef…')
  t.equal(cutShort('abcde😀', 6), 'abcde…', 'not half of a surrogate pair')
  t.equal(cutShort('abcd😀x', 6), 'abcd😀…')
})

/** A value in a test message without its raw characters (a raw U+2028 breaks the TAP stream). */
function quoteless (value: string): string {
  return Array.from(value, (character) => character.codePointAt(0)!.toString(16)).join(' ')
}

t.test('describeValue and the tracker\'s and options\' messages escape the same set, JSON\'s C0 escapes included', async (t) => {
  const { describeValue } = await import('../lib/tracker/describe.js')
  const { BuildTracker } = await import('../lib/index.js')
  t.equal(describeValue(HOSTILE_NAME), String.raw`"evil\x9b2J\u{202e}gnp.exe\u{2028}fake"`)
  t.equal(describeValue('line\nbreak'), String.raw`"line\x0abreak"`)
  t.equal(describeValue(`${'\u202e'.repeat(70)}`), `"${String.raw`\u{202e}`.repeat(60)}…" (70 characters)`, 'cut before it is escaped')
  t.equal(describeValue({ name: HOSTILE_NAME }), String.raw`{ name: 'evil\x9B2J\u{202e}gnp.exe\u{2028}fake' }`, 'inside objects too: Node escapes controls, not the rest')
  t.equal(describeValue(Symbol('\u202e')), String.raw`Symbol(\u{202e})`)
  t.throws(() => new BuildTracker({ runners: [{ name: HOSTILE_NAME, limit: -1 }] }), { code: 'FST_RUNNER_METRICS_INVALID_CONFIG', message: String.raw`runners: limit of runner "evil\x9b2J\u{202e}gnp.exe\u{2028}fake" must be a non-negative integer, got -1` })
  const tracker = new BuildTracker()
  const build = tracker.start({ id: `id${HOSTILE_NAME}`, runner: 'r' })
  t.throws(() => build.finish({ state: 'gone' as 'success' }), { message: /^build "idevil\\x9b2J\\u\{202e\}gnp\.exe\\u\{2028\}fake": / })
})

t.test('the JSON jobs list writes the same characters as JSON escapes: a parser reads the same values', async (t) => {
  const { escapeJson } = await import('../lib/tracker/describe.js')
  t.equal(escapeJson(JSON.stringify('a\u009bb\u202ec\u2028d\u{e0041}\x7f\x1b')), String.raw`"a\u009bb\u202ec\u2028d\udb40\udc41\u007f\u001b"`)
  const { appWith } = await import('./helpers.js')
  const app = await appWith({ defaultMetrics: false, jobsList: true })
  t.teardown(() => app.close())
  app.builds.start({ id: `id${HOSTILE_NAME}`, runner: HOSTILE_NAME, url: `https://x/${HOSTILE_NAME}` })
  const { body } = await app.inject({ url: '/debug/jobs/list', headers: { accept: 'application/json' } })
  t.notOk(/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(body), 'nothing raw')
  t.match(JSON.parse(body), { builds: [{ id: `id${HOSTILE_NAME}`, runner: HOSTILE_NAME, url: `https://x/${HOSTILE_NAME}` }], builds_total: 1 })
})

// A listen address from a flag, the environment or the config is shown in its error the same way:
// JSON.stringify wrote C1 controls and bidi overrides raw into the one-line start error.
t.test('a listen address in an error is escaped as names are', async (t) => {
  const { parseAddress } = await import('../lib/server/address.js')
  for (const address of ['host\u009b[31m:1', 'h\u202eost:99999', '[\u2028::1]:1', 'a b\u009b']) {
    try {
      parseAddress(address)
      t.fail(`${JSON.stringify(address)} was taken`)
    } catch (error) {
      const message = (error as Error).message
      t.notMatch(message, /[\u0080-\u009f\u202e\u2028]/, message)
      t.match(message, /\\(x9b|u\{202e\}|u\{2028\})/)
    }
  }
})

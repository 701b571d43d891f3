import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../lib/package.js'

t.test('the name and version constants match package.json', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string, version: string }
  t.equal(PACKAGE_NAME, pkg.name)
  t.equal(PACKAGE_VERSION, pkg.version, 'bump lib/package.ts with package.json')
})

const SYNC_VERSION = fileURLToPath(new URL('../scripts/sync-version.mjs', import.meta.url))

t.test('the npm version script writes the new version into lib/package.ts', async (t) => {
  const dir = t.testdir({
    'package.json': JSON.stringify({ name: 'fastify-runner-metrics', version: '9.8.7' }),
    lib: { 'package.ts': readFileSync(new URL('../lib/package.ts', import.meta.url), 'utf8') }
  })
  execFileSync(process.execPath, [SYNC_VERSION], { cwd: dir })
  const updated = readFileSync(join(dir, 'lib/package.ts'), 'utf8')
  t.match(updated, /^export const PACKAGE_VERSION = '9\.8\.7'$/m)
  t.match(updated, /^export const PACKAGE_NAME = 'fastify-runner-metrics'$/m, 'nothing else changes')
  execFileSync(process.execPath, [SYNC_VERSION], { cwd: dir })
  t.equal(readFileSync(join(dir, 'lib/package.ts'), 'utf8'), updated, 'running it again changes nothing')
})

t.test('the version script fails clearly when lib/package.ts has no version line', async (t) => {
  const dir = t.testdir({ 'package.json': JSON.stringify({ version: '1.0.0' }), lib: { 'package.ts': '// nothing\n' } })
  const result = spawnSync(process.execPath, [SYNC_VERSION], { cwd: dir, encoding: 'utf8' })
  t.equal(result.status, 1)
  t.match(result.stderr, /lib\/package\.ts: no line "export const PACKAGE_VERSION = '\.\.\.'" to update/)
})

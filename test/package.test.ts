import { readFileSync } from 'node:fs'
import t from 'tap'
import { PACKAGE_NAME, PACKAGE_VERSION } from '../lib/package.js'

t.test('the name and version constants match package.json', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string, version: string }
  t.equal(PACKAGE_NAME, pkg.name)
  t.equal(PACKAGE_VERSION, pkg.version, 'bump lib/package.ts with package.json')
})

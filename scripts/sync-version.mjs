// The npm `version` lifecycle script: after `npm version` bumps package.json, writes the new
// version into lib/package.ts (a constant a bundler keeps; see test/package.test.ts).
import { readFileSync, writeFileSync } from 'node:fs'

const { version } = JSON.parse(readFileSync('package.json', 'utf8'))
const file = 'lib/package.ts'
const source = readFileSync(file, 'utf8')
const updated = source.replace(/^export const PACKAGE_VERSION = '[^']*'$/m, `export const PACKAGE_VERSION = '${version}'`)
if (updated === source && !source.includes(`PACKAGE_VERSION = '${version}'`)) {
  console.error(`${file}: no line "export const PACKAGE_VERSION = '...'" to update`)
  process.exit(1)
}
writeFileSync(file, updated)

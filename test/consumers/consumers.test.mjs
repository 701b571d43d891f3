// The package as its users get it: `npm pack` of a clean copy of the sources (no dist/, so
// prepack must build), installed from the tarball into consumer projects that import it,
// require it, compile against it with skipLibCheck: false, and use it beside fastify-metrics.
// Run by `npm run test:package` (part of `npm test`); it installs from npm's cache when it can.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'

const exec = promisify(execFile)
const root = resolve(import.meta.dirname, '../..')
const TIME_LIMIT = { timeout: 5 * 60_000 }
/** The oldest TypeScript the published declarations support: Fastify 5's own types need 5.4 (NoInfer). */
const OLDEST_TYPESCRIPT = '5.4.5'
/** The consumer projects in this folder, each copied into the app that installed the tarball. */
const CONSUMERS = ['esm', 'cjs', 'ts-cjs', 'fastify-metrics']

let work = ''
let app = ''
let unpacked = ''

async function run (command, args, cwd) {
  try {
    return (await exec(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 })).stdout
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} in ${cwd} failed:\n${error.stdout}\n${error.stderr}`)
  }
}

async function installedVersion (name) {
  return JSON.parse(await readFile(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
}

/** Every file under `dir`, as paths relative to it. */
async function filesUnder (dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name)))
}

/** Type-checks and builds a consumer with the TypeScript package `typescript` names (both link `tsc`, so by path). */
async function tsc (project, typescript = 'typescript') {
  await run(process.execPath, [join(app, 'node_modules', typescript, 'bin', 'tsc'), '-p', project], app)
}

/** Runs a consumer's built entry and returns the JSON line it prints. */
async function report (file) {
  return JSON.parse(await run(process.execPath, [file], app))
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'frm-consumers-'))
  // A clean clone: what git holds, without dist/.
  const clone = join(work, 'clone')
  for (const entry of ['package.json', 'tsconfig.json', 'LICENSE', 'README.md', 'config.example.toml', 'lib']) {
    await cp(join(root, entry), join(clone, entry), { recursive: true })
  }
  await symlink(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir')
  const packed = (await run('npm', ['pack', '--pack-destination', work], clone)).trim().split('\n').at(-1)
  unpacked = join(work, 'unpacked')
  await mkdir(unpacked)
  await run('tar', ['-xzf', join(work, packed), '-C', unpacked], work)

  app = join(work, 'app')
  await mkdir(app)
  const dependencies = { 'fastify-runner-metrics': `file:../${packed}` }
  for (const name of ['fastify', 'fastify-metrics', 'typescript', '@types/node']) dependencies[name] = await installedVersion(name)
  dependencies['typescript-oldest'] = `npm:typescript@${OLDEST_TYPESCRIPT}`
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumers', private: true, dependencies }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], app)
  for (const consumer of CONSUMERS) await cp(join(import.meta.dirname, consumer), join(app, consumer), { recursive: true })
  await cp(join(root, 'examples', 'with-fastify-metrics.ts'), join(app, 'fastify-metrics', 'with-fastify-metrics.ts'))
  // The TypeScript app once more as a classic CommonJS project (module commonjs, node10
  // resolution, which knows no exports map: typesVersions finds the server's types).
  await cp(join(app, 'ts-cjs'), join(app, 'ts-node10'), { recursive: true })
  const { compilerOptions } = JSON.parse(await readFile(join(app, 'ts-cjs', 'tsconfig.json'), 'utf8'))
  await writeFile(join(app, 'ts-node10', 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...compilerOptions, module: 'commonjs', moduleResolution: 'node', esModuleInterop: true },
    files: ['index.ts']
  }))
  // And as an ES module app.
  await cp(join(app, 'ts-cjs'), join(app, 'ts-esm'), { recursive: true })
  await writeFile(join(app, 'ts-esm', 'package.json'), JSON.stringify({ name: 'consumer-ts-esm', private: true, type: 'module' }))
}, TIME_LIMIT)

after(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true })
})

test('npm pack of a clean clone builds dist/ and ships the LICENSE, the sources the maps name, no @internal', async () => {
  const files = await filesUnder(join(unpacked, 'package'))
  for (const file of ['LICENSE', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/server.js', 'dist/server/index.js', 'lib/index.ts']) {
    assert.ok(files.includes(file), `${file} is shipped`)
  }
  assert.deepEqual(files.filter((file) => file.startsWith('test/') || file.startsWith('node_modules/')), [])
  const maps = files.filter((file) => file.endsWith('.map'))
  assert.ok(maps.length > 0)
  for (const map of maps) {
    const { sources } = JSON.parse(await readFile(join(unpacked, 'package', map), 'utf8'))
    for (const source of sources) {
      const target = join(unpacked, 'package', dirname(map), source)
      assert.ok(await stat(target).then(() => true, () => false), `${map} names ${source}, which is shipped`)
    }
  }
  for (const declarations of files.filter((file) => file.endsWith('.d.ts'))) {
    assert.doesNotMatch(await readFile(join(unpacked, 'package', declarations), 'utf8'), /@internal/, declarations)
  }
})

test('an ES module app imports both entries', async () => {
  assert.deepEqual(await report('esm/index.js'), {
    status: 200, builds: true, named: true, tracker: true, registry: true, server: ['function', 'function']
  })
})

test('a CommonJS app requires both entries', async () => {
  assert.deepEqual(await report('cjs/index.js'), {
    status: 200, builds: true, named: 200, tracker: true, server: ['function', 'function']
  })
})

const TS_APP_REPORT = { status: 200, failures: true, tracker: true, registry: true, server: ['function', 'object'] }

test('a TypeScript app compiled to CommonJS type-checks with skipLibCheck: false and runs', async () => {
  await tsc('ts-cjs')
  assert.deepEqual(await report('ts-cjs/out/index.js'), TS_APP_REPORT)
})

test(`a TypeScript app compiled to CommonJS with node10 resolution type-checks with TypeScript ${OLDEST_TYPESCRIPT} and runs`, async () => {
  await tsc('ts-node10', 'typescript-oldest')
  assert.deepEqual(await report('ts-node10/out/index.js'), TS_APP_REPORT)
})

test(`a TypeScript ES module app type-checks with skipLibCheck: false, with TypeScript ${OLDEST_TYPESCRIPT} too, and runs`, async () => {
  await tsc('ts-esm', 'typescript-oldest')
  await tsc('ts-esm')
  assert.deepEqual(await report('ts-esm/out/index.js'), TS_APP_REPORT)
})

test('beside fastify-metrics: type-checks with skipLibCheck: false and serves both, apart and in one registry', async () => {
  await tsc('fastify-metrics')
  assert.deepEqual(await report('fastify-metrics/out/index.js'), {
    decorators: ['object', 'function', 'function'],
    apart: { http: [200, true], runner: [200, true, false] },
    together: [200, true, true]
  })
})

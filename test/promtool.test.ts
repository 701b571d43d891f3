import t from 'tap'
import { BUILTIN_STAGES, FAILURE_REASONS } from '../lib/index.js'
import { appWith } from './helpers.js'
import { findPromtool, runPromtool } from './promtool.js'

const promtool = findPromtool()

t.test('promtool check metrics finds nothing in a busy instance\'s output', { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
  const app = await appWith({ runners: [{ name: 'docker-1', limit: 4 }, { name: 'idle', limit: 1 }], concurrent: 8, stages: ['custom_stage'] })
  t.teardown(() => app.close())
  let id = 0
  for (const stage of [...BUILTIN_STAGES, 'custom_stage']) app.builds.start({ id: ++id, runner: 'docker-1' }).setStage(stage)
  app.builds.start({ id: ++id, runner: 'docker-1' })
  for (const reason of FAILURE_REASONS) app.builds.start({ id: ++id, runner: 'shell "quoted"' }).finish({ state: 'failed', failureReason: reason })
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  const { status, output } = runPromtool(['check', 'metrics'], response.body)
  t.equal(output, '', 'no findings')
  t.equal(status, 0)
})

t.test('promtool is really run: a bad exposition is reported', { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
  const { status, output } = runPromtool(['check', 'metrics'], '# HELP x_total x\n# TYPE x_total gauge\nx_total 1\n')
  t.not(status, 0)
  t.match(output, /non-counter metrics should not have "_total" suffix/)
})

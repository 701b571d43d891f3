import t from 'tap'
import { API_ENDPOINTS, BUILTIN_STAGES, FAILURE_REASONS } from '../lib/index.js'
import { appWith } from './helpers.js'
import { findPromtool, runPromtool } from './promtool.js'

const promtool = findPromtool()

for (const naming of ['runner', 'gitlab-runner'] as const) {
  t.test(`promtool check metrics finds nothing in a busy instance's output, naming ${naming}`, { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
    const app = await appWith({ runners: [{ name: 'docker-1', limit: 4, requestConcurrency: 2 }, { name: 'idle', limit: 1 }], concurrent: 8, stages: ['custom_stage'], naming })
    t.teardown(() => app.close())
    let id = 0
    for (const stage of [...BUILTIN_STAGES, 'custom_stage']) {
      const build = app.builds.start({ id: ++id, runner: 'docker-1', queueSeconds: id * 7, url: `https://gitlab.example.com/p/-/jobs/${id}` })
      build.setStage('prepare_executor')
      build.setStage(stage)
    }
    app.builds.start({ id: ++id, runner: 'docker-1' })
    for (const reason of FAILURE_REASONS) app.builds.start({ id: ++id, runner: 'shell "quoted"' }).finish({ state: 'failed', failureReason: reason })
    app.builds.start({ id: ++id, runner: 'idle' }).finish({ state: 'terminated' })
    API_ENDPOINTS.forEach((endpoint, index) => app.builds.apiRequest({ runner: 'docker-1', endpoint, status: 200 + index, seconds: index / 3 }))
    app.builds.apiRequest({ runner: 'idle', endpoint: 'request_job', status: 503, seconds: 61 })
    app.builds.requestJob('docker-1')
    app.builds.requestJob('idle')
    app.builds.requestJob('idle')
    const response = await app.inject('/metrics')
    t.equal(response.statusCode, 200)
    t.match(response.body, naming === 'runner' ? /^runner_api_requests_total\{/m : /^gitlab_runner_api_request_statuses_total\{/m)
    const { status, output } = runPromtool(['check', 'metrics'], response.body)
    t.equal(output, '', 'no findings')
    t.equal(status, 0)
  })
}

t.test('promtool is really run: a bad exposition is reported', { skip: 'skip' in promtool ? promtool.skip : false }, async (t) => {
  const { status, output } = runPromtool(['check', 'metrics'], '# HELP x_total x\n# TYPE x_total gauge\nx_total 1\n')
  t.not(status, 0)
  t.match(output, /non-counter metrics should not have "_total" suffix/)
})

import { readFileSync } from 'node:fs'
import t from 'tap'
import { findPromtool, runPromtool } from './promtool.js'

const promtool = findPromtool()
const skip = 'skip' in promtool ? promtool.skip : false

t.test('promtool check rules: the mixin\'s rules are valid', { skip }, async (t) => {
  const { status, output } = runPromtool(['check', 'rules', 'mixin/alerts.yml'])
  t.equal(status, 0, output)
  t.match(output, /SUCCESS: \d+ rules found/)
})

t.test('promtool test rules: every alert fires and stays quiet where it should', { skip }, async (t) => {
  const { status, output } = runPromtool(['test', 'rules', 'mixin/alerts_test.yml'])
  t.equal(status, 0, output)
})

t.test('every alert has a summary, a description and a severity', async (t) => {
  const text = readFileSync('mixin/alerts.yml', 'utf8')
  const alerts = text.split(/^\s+- alert: /m).slice(1)
  t.ok(alerts.length >= 6, `${alerts.length} alerts`)
  for (const alert of alerts) {
    const name = alert.split('\n', 1)[0]!
    t.match(alert, /\n\s+severity: \S+/, `${name} has a severity`)
    t.match(alert, /\n\s+summary: /, `${name} has a summary`)
    t.match(alert, /\n\s+description: /, `${name} has a description`)
  }
})

t.test('the dashboard is valid JSON with its datasource variable', async (t) => {
  const dashboard = JSON.parse(readFileSync('mixin/dashboard.json', 'utf8')) as { title: string, panels: unknown[], templating: { list: Array<{ name: string }> } }
  t.ok(dashboard.panels.length > 5)
  t.ok(dashboard.templating.list.some((variable) => variable.name === 'datasource'))
})

t.test('the GitLab Runner parity families have panels; their alerts and RunnerSeriesRefused have promtool cases that fire and stay quiet', async (t) => {
  const dashboard = readFileSync('mixin/dashboard.json', 'utf8')
  for (const family of ['runner_api_requests_total', 'runner_api_request_duration_seconds', 'runner_build_queue_duration_seconds', 'runner_build_stage_duration_seconds', 'runner_request_concurrency', 'runner_request_concurrency_exceeded_total']) {
    t.match(dashboard, `${family}`, `a panel queries ${family}`)
  }
  const tests = readFileSync('mixin/alerts_test.yml', 'utf8')
  for (const alert of ['RunnerGitLabApiErrors', 'RunnerJobQueueTimeHigh', 'RunnerRequestConcurrencySaturated', 'RunnerSeriesRefused']) {
    t.match(readFileSync('mixin/alerts.yml', 'utf8'), `- alert: ${alert}\n`)
    t.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`), `${alert} has a case where it fires`)
    t.match(tests, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts: \\[\\]`), `${alert} has a case where it stays quiet`)
  }
})

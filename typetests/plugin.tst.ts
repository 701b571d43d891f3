import Fastify from 'fastify'
import { Registry } from 'prom-client'
import { describe, expect, test } from 'tstyche'
import runnerMetrics, { Build, BuildTracker, type RunnerMetricsOptions } from '../lib/index.js'

const app = Fastify()

describe('decorators', () => {
  test('app.runnerRegistry is a prom-client Registry and app.builds a BuildTracker, without casts', () => {
    expect(app.runnerRegistry).type.toBe<Registry>()
    expect(app.builds).type.toBe<BuildTracker>()
    expect(app.builds.start({ id: '1042', runner: 'docker-1' })).type.toBe<Build>()
    expect(app.builds.start({ id: 1042, runner: 'docker-1' })).type.toBe<Build>()
  })

  test('build handles take only the contract\'s states and reasons', () => {
    const build = app.builds.start({ id: '1', runner: 'r' })
    expect(build.setStage('get_sources')).type.toBe<void>()
    expect(build.finish({ state: 'failed', failureReason: 'script_failure' })).type.toBe<void>()
    expect(build.finish).type.not.toBeCallableWith({ state: 'running' })
    expect(build.finish).type.not.toBeCallableWith({ state: 'failed', failureReason: 'bad_luck' })
    expect(app.builds.start).type.not.toBeCallableWith({ id: '1' })
  })
})

describe('options', () => {
  test('every option is optional', () => {
    expect(app.register).type.toBeCallableWith(runnerMetrics)
    expect(app.register).type.toBeCallableWith(runnerMetrics, {})
  })

  test('options are typed', () => {
    expect(app.register).type.toBeCallableWith(runnerMetrics, {
      registry: new Registry(),
      endpoint: false,
      defaultMetrics: true,
      version: { version: '17.0.0', revision: 'abc' },
      runners: [{ name: 'docker-1', limit: 4 }],
      concurrent: 8,
      stages: ['custom'],
      jobsList: true,
      scrapeTimeout: 3000,
      maxScrapesInFlight: 4
    })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ endpoint: 42 })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ registry: 'global' })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ version: { tag: 'x' } })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ runners: [{ limit: 2 }] })
  })
})

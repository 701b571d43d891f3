import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { Registry } from 'prom-client'
import { describe, expect, test } from 'tstyche'
import runnerMetrics, { AlreadyRegisteredError, Build, BuildTracker, OptionInvalidError, RegistryConflictError, promClient, type JobsListOptions, type RunnerMetricsOptions } from '../lib/index.js'

const app = Fastify()

// What @fastify/swagger adds to route schemas, so `schema: { hide: true }` type-checks in an app that has it.
declare module 'fastify' {
  interface FastifySchema {
    hide?: boolean
  }
}

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

describe('Fastify conventions', () => {
  test('Fastify\'s register options go beside the plugin\'s', () => {
    expect(app.register).type.toBeCallableWith(runnerMetrics, { prefix: '/ops', logLevel: 'warn', endpoint: '/metrics' })
    expect(app.register).type.not.toBeCallableWith(runnerMetrics, { logLevel: 'loud' })
  })

  test('endpoint takes route options beside its url, but not the method or the handler', () => {
    expect(app.register).type.toBeCallableWith(runnerMetrics, {
      endpoint: {
        url: '/metrics',
        logLevel: 'warn',
        schema: { hide: true },
        onRequest: async (request: FastifyRequest, reply: FastifyReply) => { await reply.code(401).send() }
      }
    })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ endpoint: { url: 42 } })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ endpoint: { method: 'POST' } })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ endpoint: { handler: () => 'x' } })
  })

  test('jobsList takes true, a path, or route options of its own, but not the method or the handler', () => {
    expect(app.register).type.toBeCallableWith(runnerMetrics, { jobsList: '/jobs' })
    expect(app.register).type.toBeCallableWith(runnerMetrics, {
      jobsList: {
        url: '/debug/jobs/list',
        logLevel: 'warn',
        config: { rateLimit: { max: 10 } },
        onRequest: async (request: FastifyRequest, reply: FastifyReply) => { await reply.code(401).send() }
      }
    })
    expect(app.register).type.toBeCallableWith(runnerMetrics, { jobsList: {} })
    expect<JobsListOptions>().type.toBeAssignableFrom({ onRequest: [async () => {}] })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ jobsList: 42 })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ jobsList: { url: 42 } })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ jobsList: { method: 'POST' } })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ jobsList: { handler: () => 'x' } })
  })

  test('errors carry their codes', () => {
    expect(new OptionInvalidError('x').code).type.toBe<'FST_RUNNER_METRICS_OPTION_INVALID'>()
    expect(new AlreadyRegisteredError().code).type.toBe<'FST_RUNNER_METRICS_ALREADY_REGISTERED'>()
    expect(new RegistryConflictError('x').code).type.toBe<'FST_RUNNER_METRICS_REGISTRY_CONFLICT'>()
  })

  test('promClient is the prom-client the registry comes from', () => {
    expect(app.runnerRegistry).type.toBeAssignableTo<promClient.Registry>()
    expect(new promClient.Counter({ name: 'x_total', help: 'x', registers: [app.runnerRegistry] })).type.toBe<promClient.Counter>()
  })
})

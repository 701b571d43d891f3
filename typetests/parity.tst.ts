import { describe, expect, test } from 'tstyche'
import { BuildTracker, JobRequest, type ApiEndpoint, type FinalState, type RefusedSeries, type RunnerMetricsOptions } from '../lib/index.js'

const tracker = new BuildTracker({ runners: [{ name: 'docker-1', limit: 2, requestConcurrency: 3 }] })

describe('GitLab Runner parity', () => {
  test('start takes queueSeconds and url', () => {
    expect(tracker.start).type.toBeCallableWith({ id: 1, runner: 'r', queueSeconds: 12.5, url: 'https://gitlab.example.com/p/-/jobs/1' })
    expect(tracker.start).type.not.toBeCallableWith({ id: 1, runner: 'r', queueSeconds: '12' })
    expect(tracker.start({ id: 1, runner: 'r' }).url).type.toBe<string | undefined>()
  })

  test('terminated is a final state', () => {
    expect<FinalState>().type.toBeAssignableFrom('terminated' as const)
  })

  test('apiRequest takes GitLab Runner\'s endpoints only', () => {
    expect(tracker.apiRequest({ runner: 'r', endpoint: 'request_job', status: 201, seconds: 0.3 })).type.toBe<void>()
    expect(tracker.apiRequest).type.not.toBeCallableWith({ runner: 'r', endpoint: 'jobs', status: 200, seconds: 1 })
    expect(tracker.apiRequest).type.not.toBeCallableWith({ runner: 'r', endpoint: 'get_job', status: '200', seconds: 1 })
    expect<ApiEndpoint>().type.toBeAssignableFrom('patch_trace' as const)
  })

  test('requestJob returns a handle or undefined', () => {
    const request = tracker.requestJob('docker-1')
    expect(request).type.toBe<JobRequest | undefined>()
    expect(request!.done()).type.toBe<void>()
  })

  test('the output budget: maxOutputBytes, what is used, what was refused', () => {
    expect(BuildTracker).type.toBeConstructableWith({ maxOutputBytes: 8 * 2 ** 20 })
    expect(BuildTracker).type.not.toBeConstructableWith({ maxOutputBytes: '8 MiB' })
    expect(tracker.usedOutputBytes).type.toBe<number>()
    expect(tracker.refusedSeries()).type.toBe<Record<RefusedSeries, number>>()
    expect<RefusedSeries>().type.toBeAssignableFrom('build_stage_duration' as const)
  })

  test('the naming option takes the two namings', () => {
    expect<RunnerMetricsOptions>().type.toBeAssignableFrom({ naming: 'gitlab-runner' as const })
    expect<RunnerMetricsOptions>().type.toBeAssignableFrom({ naming: 'runner' as const })
    expect<RunnerMetricsOptions>().type.not.toBeAssignableFrom({ naming: 'prometheus' as const })
  })
})

// Helpers shared by the benchmark's orchestrator and its child processes.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))

export function median (values) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Nearest-rank percentile of an already sorted array. */
export function percentileSorted (sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

/** Resolves on the next turn of the event loop (after pending I/O and timers). */
export function nextTurn () {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Forks a bench script and resolves with the first message it sends that has `type`
 * `until` (default 'result'); rejects when the child fails or exits first.
 * The child stays alive when `keep` is set (servers), and is killed otherwise.
 */
export function forkChild (script, { args = [], execArgv = [], until = 'result', keep = false, timeoutMs = 120_000 } = {}) {
  const child = fork(new URL(script, `file://${BENCH_DIR}`), args, {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${script} ${args.join(' ')}: no answer within ${timeoutMs} ms`))
    }, timeoutMs)
    const onExit = (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${script} ${args.join(' ')}: exited (${signal ?? code}) before answering`))
    }
    child.once('exit', onExit)
    child.on('message', (message) => {
      if (message?.type === 'error') {
        clearTimeout(timer)
        child.off('exit', onExit)
        child.kill('SIGKILL')
        reject(new Error(`${script} ${args.join(' ')}: ${message.error}`))
      } else if (message?.type === until) {
        clearTimeout(timer)
        child.off('exit', onExit)
        if (!keep) child.disconnect()
        resolve({ child, message })
      }
    })
  })
}

/** In a child: runs `main` and reports its value (or its error) to the parent. */
export function reportFromChild (main) {
  main().then(
    (result) => { process.send({ type: 'result', ...result }, () => process.exit(0)) },
    (error) => { process.send({ type: 'error', error: error?.stack ?? String(error) }, () => process.exit(1)) }
  )
}

// The shape of the build load used by several measurements.
export const RUNNER_COUNT = 10
export const runnerNames = (count) => Array.from({ length: count }, (_, index) => `docker-${index + 1}`)

/** Stages a live build of the scrape-cost and memory measurements passes through. */
export const LIVE_STAGE_PATH = ['prepare_executor', 'get_sources', 'restore_cache', 'step_script', 'after_script']

/** The 4 stages of one hot-path cycle. */
export const CYCLE_STAGES = ['prepare_executor', 'get_sources', 'step_script', 'after_script']

/** The finish options hot-path cycles rotate through. */
export const FINISHES = [
  { state: 'success' },
  { state: 'failed', failureReason: 'script_failure' },
  { state: 'canceled' },
  { state: 'success' },
  { state: 'timedout' }
]

/**
 * The same bookkeeping as BuildTracker, done the usual prom-client way: a Map of live
 * builds and labeled metrics updated on every event (the alternative to compare against).
 */
export function promClientBookkeeping (promClient, registry, buckets, now = () => performance.now() / 1000) {
  const { Counter, Gauge, Histogram } = promClient
  const registers = [registry]
  const builds = new Gauge({ name: 'runner_builds', help: 'Builds running now.', labelNames: ['runner', 'state', 'stage'], registers })
  const started = new Counter({ name: 'runner_builds_started_total', help: 'Builds started.', labelNames: ['runner'], registers })
  const finished = new Counter({ name: 'runner_builds_finished_total', help: 'Builds finished.', labelNames: ['runner', 'state'], registers })
  const failures = new Counter({ name: 'runner_build_failures_total', help: 'Failed builds.', labelNames: ['runner', 'failure_reason'], registers })
  const duration = new Histogram({ name: 'runner_build_duration_seconds', help: 'Build duration.', labelNames: ['runner'], buckets: [...buckets], registers })
  const live = new Map()
  return {
    live,
    start ({ id, runner }) {
      const key = String(id)
      if (live.has(key)) throw new Error(`build ${key} is already running`)
      const build = { id: key, runner, state: 'pending', stage: 'none', startedAt: now() }
      live.set(key, build)
      started.inc({ runner })
      builds.inc({ runner, state: 'pending', stage: 'none' })
      return build
    },
    setStage (build, stage) {
      builds.dec({ runner: build.runner, state: build.state, stage: build.stage })
      build.state = 'running'
      build.stage = stage
      builds.inc({ runner: build.runner, state: 'running', stage })
    },
    finish (build, { state, failureReason }) {
      builds.dec({ runner: build.runner, state: build.state, stage: build.stage })
      finished.inc({ runner: build.runner, state })
      if (state === 'failed') failures.inc({ runner: build.runner, failure_reason: failureReason ?? 'unknown_failure' })
      duration.observe({ runner: build.runner }, now() - build.startedAt)
      live.delete(build.id)
    }
  }
}

/**
 * Drives `count` live builds into a tracker-like target: build i runs on runner i % runners
 * and has passed through i % 6 stages of LIVE_STAGE_PATH (0: still pending).
 * Handles are not kept: only the target references the builds.
 */
export function startLiveBuilds (target, count, runners, firstId = 100_000_000) {
  for (let i = 0; i < count; i++) {
    const build = target.start({ id: firstId + i, runner: runners[i % runners.length] })
    const stages = i % (LIVE_STAGE_PATH.length + 1)
    for (let s = 0; s < stages; s++) target.setStage(build, LIVE_STAGE_PATH[s])
  }
}

/** The tracker seen through the same interface as promClientBookkeeping. */
export function trackerTarget (tracker) {
  return {
    start: (options) => tracker.start(options),
    setStage: (build, stage) => build.setStage(stage),
    finish: (build, options) => build.finish(options)
  }
}

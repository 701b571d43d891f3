import type { Build, BuildTracker } from '../tracker/build-tracker.js'

export const JOBS_LIST_VERSION = '2'

export interface JobEntry {
  id: string
  /** The job's web URL, when the build was started with one. */
  url?: string
  runner: string
  state: string
  stage: string
  duration_seconds: number
  /** Seconds in the current stage so far; earlier stages are in runner_build_stage_duration_seconds. */
  stage_duration_seconds: number
}

function entry (build: Build): JobEntry {
  return {
    id: build.id,
    ...(build.url === undefined ? {} : { url: build.url }),
    runner: build.runner,
    state: build.state,
    stage: build.stage,
    duration_seconds: build.duration,
    stage_duration_seconds: build.stageDuration
  }
}

/** A value quoted only when it would break the `key=value` line apart. */
function field (value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
}

/** One line per live build, oldest first, in the shape of GitLab Runner's `/debug/jobs/list` (its `url=` when known). */
export function jobsListText (tracker: BuildTracker): string {
  let text = ''
  for (const build of tracker.liveBuilds()) {
    text += `id=${field(build.id)} ${build.url === undefined ? '' : `url=${field(build.url)} `}runner=${field(build.runner)} state=${build.state} stage=${build.stage} duration=${build.duration.toFixed(3)}s\n`
  }
  return text
}

export function jobsListJson (tracker: BuildTracker): { builds: JobEntry[] } {
  return { builds: Array.from(tracker.liveBuilds(), entry) }
}

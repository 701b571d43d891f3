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

// Unicode's Cc: the C0 controls, DEL and the C1 controls; a terminal acts on them (ESC sequences, BEL, ...).
const CONTROL = /\p{Cc}/gu

/**
 * A value quoted only when it would break the `key=value` line apart or holds a character a
 * terminal acts on; inside quotes, `\` and `"` are escaped and control characters are shown as
 * `\xNN`, so what a build id or runner name says is printed, never executed.
 */
function field (value: string): string {
  if (/^[^\s"=\\\p{Cc}]+$/u.test(value)) return value
  const escaped = value.replace(/[\\"]/g, '\\$&').replace(CONTROL, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`)
  return `"${escaped}"`
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

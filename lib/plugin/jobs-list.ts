import type { Build, BuildTracker } from '../tracker/build-tracker.js'

export const JOBS_LIST_VERSION = '2'

export interface JobEntry {
  id: string
  runner: string
  state: string
  stage: string
  duration_seconds: number
  stage_durations_seconds: Record<string, number>
}

function entry (build: Build): JobEntry {
  return {
    id: build.id,
    runner: build.runner,
    state: build.state,
    stage: build.stage,
    duration_seconds: build.duration,
    stage_durations_seconds: build.stageDurations()
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

/** One line per live build, oldest first, in the shape of GitLab Runner's `/debug/jobs/list`. */
export function jobsListText (tracker: BuildTracker): string {
  let text = ''
  for (const build of tracker.liveBuilds()) {
    text += `id=${field(build.id)} runner=${field(build.runner)} state=${build.state} stage=${build.stage} duration=${build.duration.toFixed(3)}s\n`
  }
  return text
}

export function jobsListJson (tracker: BuildTracker): { builds: JobEntry[] } {
  return { builds: Array.from(tracker.liveBuilds(), entry) }
}

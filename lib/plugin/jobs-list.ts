import type { Build, BuildTracker } from '../tracker/build-tracker.js'
import { printable, quote } from '../tracker/describe.js'

export const JOBS_LIST_VERSION = '2'

/** What may stand bare in a `key=value` line: no space (`\s` covers U+2028 and U+2029), `"`, `=` or `\`. */
const PLAIN = /^[^\s"=\\]+$/

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

/** A value bare when it can neither break the line apart nor act on a terminal; else quoted as every display of a name is. */
function field (value: string): string {
  return PLAIN.test(value) && printable(value) ? value : quote(value)
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

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

/** Control, format and line separator characters (ESC, NUL, DEL, NEL, bidi overrides, U+2028): escaped, never raw. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu

/**
 * A value quoted only when it would break the `key=value` line apart or hold an unprintable
 * character; quoted, those are escaped as JSON escapes them (JSON.stringify leaves DEL, C1,
 * format characters and U+2028 raw), so a build can neither fake a line nor paint the reader's terminal.
 */
function field (value: string): string {
  if (/^[^\s"=\p{Cc}\p{Cf}]+$/u.test(value)) return value // \s covers U+2028 and U+2029
  return JSON.stringify(value).replace(UNPRINTABLE, (character) =>
    Array.from({ length: character.length }, (_, unit) => `\\u${character.charCodeAt(unit).toString(16).padStart(4, '0')}`).join(''))
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

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'
import { onExit } from 'signal-exit'

export const SERVER_JS = fileURLToPath(new URL('../dist/server.js', import.meta.url))

export interface ServerProcess {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the first stdout line matching `pattern` (waiting for it if needed). */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** The URL of the last "listening on" log line. */
  url: () => string
  /** Ends the process and anything it started, at once (SIGKILL to its process group). */
  kill: () => void
  /** This process's caught signals when it started the server. */
  forkedFrom: bigint
}

/** What a test needs to tie a process's end to its own. */
interface Teardown { teardown: (cleanup: () => void | Promise<void>) => void }

const running = new Set<ChildProcess>()

function killGroup (child: ChildProcess): void {
  running.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // Gone already.
  }
}

// The last line of defence: a test file that times out or crashes (tap ends it with SIGALRM)
// never leaves a server behind, reparented to PID 1.
onExit(() => { for (const child of running) killGroup(child) })

/**
 * Runs the real `dist/server.js` the way an operator would, in a process group of its own.
 * With `t`, the group is killed when that test ends, pass or fail.
 */
export function runServer (args: string[], options: { env?: Record<string, string>, cwd?: string, t?: Teardown, bare?: boolean } = {}): ServerProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
  for (const name of ['METRICS_SERVER', 'LISTEN_ADDRESS']) if (options.env?.[name] === undefined) delete env[name]
  const forkedFrom = caught('self')
  // bare: without the preloads tap adds to every child (they catch signals of their own).
  const [command, argv] = options.bare === true
    ? ['/bin/sh', ['-c', 'unset NODE_OPTIONS; exec "$0" "$@"', process.execPath, SERVER_JS, ...args]]
    : [process.execPath, [SERVER_JS, ...args]]
  const child = spawn(command, argv, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  running.add(child)
  const kill = (): void => killGroup(child)
  options.t?.teardown(kill)
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; waiters.forEach((check) => check()) })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child)
    waiters.forEach((check) => check())
    return { code: code as number | null, signal: signal as NodeJS.Signals | null }
  })
  const waitFor = async (pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> => await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no line matching ${pattern} within ${timeoutMs} ms`), timeoutMs)
    function fail (reason: string): void {
      clearTimeout(timer)
      waiters.delete(check)
      reject(new Error(`${reason}; stdout:\n${out}\nstderr:\n${err}`))
    }
    function check (): void {
      const match = out.split('\n').map((line) => line.match(pattern)).find((found) => found !== null)
      if (match != null) {
        clearTimeout(timer)
        waiters.delete(check)
        resolve(match)
      } else if (child.exitCode !== null || child.signalCode !== null) {
        // It will never print the line: say so now instead of at the time limit.
        fail(`exited (${child.exitCode ?? child.signalCode}) with no line matching ${pattern}`)
      }
    }
    waiters.add(check)
    check()
  })
  const url = (): string => {
    const all = [...out.matchAll(/listening on (https?:\/\/\S+?)"/g)]
    if (all.length === 0) throw new Error(`not listening; stdout:\n${out}`)
    return all[all.length - 1]![1]!
  }
  return { child, stdout: () => out, stderr: () => err, waitFor, exited, url, kill, forkedFrom }
}

function caught (pid: number | 'self'): bigint {
  const match = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))!
  return BigInt(`0x${match[1]!}`)
}

/** Whether the server process has a handler for `signal` (Linux: the SigCgt mask in /proc). */
export function catches (server: ServerProcess, signal: NodeJS.Signals): boolean {
  const mask = caught(server.child.pid!)
  // Until exec the child is a copy of this process as it was at the fork, handlers and all.
  if (mask === server.forkedFrom) return false
  return (mask & (1n << BigInt(constants.signals[signal] - 1))) !== 0n
}

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

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
}

/** Runs the real `dist/server.js` the way an operator would. */
export function runServer (args: string[], options: { env?: Record<string, string>, cwd?: string } = {}): ServerProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
  if (options.env?.METRICS_SERVER === undefined) delete env.METRICS_SERVER
  const child = spawn(process.execPath, [SERVER_JS, ...args], { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const waiters = new Set<() => void>()
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; waiters.forEach((check) => check()) })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }))
  const waitFor = async (pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> => await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`)) }, timeoutMs)
    function check (): void {
      const match = out.split('\n').map((line) => line.match(pattern)).find((found) => found !== null)
      if (match != null) { clearTimeout(timer); waiters.delete(check); resolve(match) }
    }
    waiters.add(check)
    check()
  })
  const url = (): string => {
    const all = [...out.matchAll(/listening on (https?:\/\/\S+?)"/g)]
    if (all.length === 0) throw new Error(`not listening; stdout:\n${out}`)
    return all[all.length - 1]![1]!
  }
  return { child, stdout: () => out, stderr: () => err, waitFor, exited, url }
}

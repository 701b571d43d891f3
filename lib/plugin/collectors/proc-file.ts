import { closeSync, openSync, readSync } from 'node:fs'

// /proc files report size 0, so fs.readFile reads them in 64 KiB chunks over the thread pool
// (hundreds of µs each). The ones read here are under 2 KiB: one synchronous read into a buffer
// kept for good costs tens of µs and never waits on the pool.
const buffer = Buffer.alloc(16 * 1024)

/** The whole file behind `fd`, up to the buffer's size; undefined if reading fails (a folder, say). */
function readAll (fd: number): string | undefined {
  let length = 0
  try {
    for (let read = -1; read !== 0 && length < buffer.length; length += read) read = readSync(fd, buffer, length, buffer.length - length, null)
  } catch {
    return undefined
  }
  return buffer.toString('latin1', 0, length)
}

/** The text of a /proc file, or undefined where it cannot be read (no /proc; EMFILE). */
export function readProcFile (path: string): string | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return undefined
  }
  const text = readAll(fd)
  closeSync(fd)
  return text
}

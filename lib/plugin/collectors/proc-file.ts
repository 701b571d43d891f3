import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

// /proc files report size 0, so fs.readFile reads them in 64 KiB chunks over the thread pool
// (hundreds of µs each). The ones read here are under 2 KiB: one synchronous read into a buffer
// kept for good costs tens of µs and never waits on the pool.
const buffer = Buffer.alloc(16 * 1024)

/** The whole file behind `fd` from its start, up to the buffer's size; undefined if reading fails (a folder, say). */
function readAll (fd: number): string | undefined {
  let length = 0
  try {
    // Positioned reads: the kernel writes a /proc file's text afresh for a read at offset 0. A
    // read that fills less than asked is at the end (the kernel gives a /proc file's text whole).
    for (let asked = buffer.length, read = asked; read === asked && length < buffer.length; length += read) {
      asked = buffer.length - length
      read = readSync(fd, buffer, length, asked, length)
    }
  } catch {
    return undefined
  }
  return buffer.toString('latin1', 0, length)
}

function tryOpen (path: string): number | undefined {
  try {
    return openSync(path, 'r')
  } catch {
    return undefined
  }
}

/** The device and inode of `fd`, undefined when it is closed. */
function identity (fd: number): string | undefined {
  try {
    const stats = fstatSync(fd)
    return `${stats.dev}:${stats.ino}`
  } catch {
    return undefined
  }
}

/**
 * A /proc file (or folder) of this process. While held, it stays open between scrapes and is
 * read again from offset 0: the path walk, the open and the close were about a third of a
 * /proc read's cost. Held files are open descriptors (process_open_fds counts them) and are
 * closed on release; positioned reads never consume anything, even from a descriptor the host
 * closed and reused, and a descriptor is closed only while it is still this file.
 */
export class ProcFile {
  readonly #path: string
  #held: { fd: number, identity: string } | undefined
  #holding = false

  constructor (path: string) {
    this.#path = path
  }

  /** From now on the file stays open between reads. */
  hold (): void {
    this.#holding = true
  }

  /** Closes the file and stops holding it. */
  release (): void {
    this.#holding = false
    this.#drop()
  }

  /** The file's text, or undefined where it cannot be read (no /proc; EMFILE; a folder). */
  text (): string | undefined {
    return this.#use(readAll)
  }

  /** The size fstat gives (the number of open descriptors, for /proc/self/fd), or undefined. */
  size (): number | undefined {
    return this.#use((fd) => {
      try {
        return fstatSync(fd).size
      } catch {
        return undefined
      }
    })
  }

  #use<T> (read: (fd: number) => T | undefined): T | undefined {
    if (this.#held !== undefined) {
      const value = read(this.#held.fd)
      if (value !== undefined) return value
      this.#drop()
    }
    const fd = tryOpen(this.#path)
    if (fd === undefined) return undefined
    const value = read(fd)
    const id = this.#holding && value !== undefined ? identity(fd) : undefined
    if (id !== undefined) this.#held = { fd, identity: id }
    else closeSync(fd)
    return value
  }

  /** Forgets the held descriptor, closing it only if it is still this file. */
  #drop (): void {
    const held = this.#held
    this.#held = undefined
    if (held !== undefined && identity(held.fd) === held.identity) closeSync(held.fd)
  }
}

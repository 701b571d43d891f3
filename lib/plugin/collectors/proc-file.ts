import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs'

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

/** fstat of `fd`, undefined when it is closed. */
function statsOf (fd: number): Stats | undefined {
  try {
    return fstatSync(fd)
  } catch {
    return undefined
  }
}

/** Which file a descriptor is: its device and inode, as fstat gives them. */
interface Held { fd: number, dev: number, ino: number }

/**
 * A /proc file (or folder) of this process. While held, it stays open between scrapes and is
 * read again from offset 0: the path walk, the open and the close were about a third of a
 * /proc read's cost. Held files are open descriptors (process_open_fds counts them) and are
 * closed on release. The host may close a held descriptor and open a file of its own at the
 * number: a held descriptor is read, and closed, only while it is still this file.
 */
export class ProcFile {
  readonly #path: string
  #held: Held | undefined
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
    const held = this.#held
    this.#held = undefined
    if (held !== undefined && this.#isOurs(held)) closeSync(held.fd)
  }

  /** The file's text, or undefined where it cannot be read (no /proc; EMFILE; a folder). */
  text (): string | undefined {
    return this.#use(readAll)
  }

  /** The size fstat gives (the number of open descriptors, for /proc/self/fd), or undefined. */
  size (): number | undefined {
    return this.#use((fd, stats) => stats.size)
  }

  /** The held descriptor's fstat while it is still this file (one fstat costs a fraction of an open); else undefined. */
  #isOurs (held: Held): Stats | undefined {
    const stats = statsOf(held.fd)
    return stats !== undefined && stats.dev === held.dev && stats.ino === held.ino ? stats : undefined
  }

  #use<T> (read: (fd: number, stats: Stats) => T | undefined): T | undefined {
    const held = this.#held
    if (held !== undefined) {
      const stats = this.#isOurs(held)
      if (stats !== undefined) return read(held.fd, stats)
      // The host closed it, and may have opened its own at the number: left alone, ours opened afresh.
      this.#held = undefined
    }
    const fd = tryOpen(this.#path)
    if (fd === undefined) return undefined
    const stats = fstatSync(fd)
    const value = read(fd, stats)
    if (this.#holding && value !== undefined) this.#held = { fd, dev: stats.dev, ino: stats.ino }
    else closeSync(fd)
    return value
  }
}

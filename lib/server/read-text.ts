import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

/**
 * The most a config or web config file may hold. Real ones are kilobytes (a thousand runners
 * fit in one megabyte); a bigger one is a mistake or an attack, and reading it whole would
 * take the memory and then block the event loop (scrapes, signals) while it is parsed.
 */
export const MAX_FILE_BYTES = 4 * 1024 * 1024
const CHUNK_BYTES = 64 * 1024
const TOO_LARGE = `is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB; a config or web config file is never that big`
const CHANGING = 'changed while it was read (still being written?); write it to a new file, then rename that into place'

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a folder, not a file'
}

/** A file's contents as read, and what was made of them. */
export interface FileRead<T> {
  value: T
  bytes: Buffer
}

/**
 * A file's bytes. When it cannot be read, `fail` turns the reason, written for the operator,
 * into the caller's own error. Only regular files are read: a FIFO would block the read (and
 * with it a reload, and the shutdown waiting for that reload) until something writes to it,
 * and a device may never end. Opened non-blocking, so even opening a FIFO cannot hang, and
 * checked on the open file, so nothing can swap the path in between. At most MAX_FILE_BYTES
 * are read, also from a file that grows while it is read.
 *
 * Two ways a file caught halfway through writing shows, both refused:
 * - it changed while it was read (its size or modification time moved, on the open file);
 * - `inForce`, the bytes of this file as last loaded, begin with all of it: a reload that read
 *   it would take a file cut short for a weaker config (no users, no TLS, no web config). This
 *   catches every cut of the file in force, also a rewrite of the same text caught mid-way.
 *   The cost: cutting the end off on purpose needs another change with it (a comment will do).
 */
export async function readBytes (file: string, fail: (reason: string) => Error, inForce?: Buffer): Promise<Buffer> {
  const read = await readRegular(file).catch((error: NodeJS.ErrnoException) => READ_ERRORS[error.code!] ?? `cannot be read (${error.code})`)
  if (typeof read === 'string') throw fail(read)
  // An empty file is every file's prefix: the callers refuse it with words of their own.
  if (inForce !== undefined && read.length > 0 && read.length < inForce.length && inForce.compare(read, 0, read.length, 0, read.length) === 0) {
    throw fail(`holds only the first ${read.length} of the ${inForce.length} bytes of the file in force (a half-written file?); if you meant to cut its end, save it with any other change too`)
  }
  return read
}

/** A file's text, read as `readBytes` reads it. */
export async function readText (file: string, fail: (reason: string) => Error): Promise<string> {
  return (await readBytes(file, fail)).toString('utf8')
}

/** The bytes of a regular file, or why they cannot be had. */
async function readRegular (file: string): Promise<Buffer | string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    // In nanoseconds: two writes within the same millisecond still differ.
    const before = await handle.stat({ bigint: true })
    if (before.isDirectory()) return READ_ERRORS.EISDIR!
    if (!before.isFile()) return 'is not a regular file (a FIFO, socket or device)'
    const bytes = await readAtMost(handle, MAX_FILE_BYTES)
    if (bytes === undefined) return TOO_LARGE
    const after = await handle.stat({ bigint: true })
    return after.size !== before.size || after.mtimeNs !== before.mtimeNs ? CHANGING : bytes
  } finally {
    await handle.close()
  }
}

/** The file's bytes, or undefined when it holds more than `limit`. */
async function readAtMost (handle: FileHandle, limit: number): Promise<Buffer | undefined> {
  // In chunks: a config of a few kilobytes costs a few kilobytes, not the whole limit.
  const chunks: Buffer[] = []
  let length = 0
  for (;;) {
    const { buffer, bytesRead } = await handle.read(Buffer.allocUnsafe(CHUNK_BYTES), 0, CHUNK_BYTES, null)
    if (bytesRead === 0) return Buffer.concat(chunks, length)
    length += bytesRead
    if (length > limit) return undefined
    chunks.push(buffer.subarray(0, bytesRead))
  }
}

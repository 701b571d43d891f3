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

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a folder, not a file'
}

/**
 * A file's text. When it cannot be read, `fail` turns the reason, written for the operator,
 * into the caller's own error. Only regular files are read: a FIFO would block the read (and
 * with it a reload, and the shutdown waiting for that reload) until something writes to it,
 * and a device may never end. Opened non-blocking, so even opening a FIFO cannot hang, and
 * checked on the open file, so nothing can swap the path in between. At most MAX_FILE_BYTES
 * are read, also from a file that grows while it is read.
 */
export async function readText (file: string, fail: (reason: string) => Error): Promise<string> {
  const read = await readRegular(file).catch((error: NodeJS.ErrnoException) => READ_ERRORS[error.code!] ?? `cannot be read (${error.code})`)
  if (typeof read === 'string') throw fail(read)
  return read.text
}

/** The text of a regular file, or why it is not one (the text is boxed to tell the two apart). */
async function readRegular (file: string): Promise<{ text: string } | string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const stats = await handle.stat()
    if (stats.isDirectory()) return READ_ERRORS.EISDIR!
    if (!stats.isFile()) return 'is not a regular file (a FIFO, socket or device)'
    const text = await readAtMost(handle, MAX_FILE_BYTES)
    return text === undefined ? TOO_LARGE : { text }
  } finally {
    await handle.close()
  }
}

/** The file's text, or undefined when it holds more than `limit` bytes. */
async function readAtMost (handle: FileHandle, limit: number): Promise<string | undefined> {
  // In chunks: a config of a few kilobytes costs a few kilobytes, not the whole limit.
  const chunks: Buffer[] = []
  let length = 0
  for (;;) {
    const { buffer, bytesRead } = await handle.read(Buffer.allocUnsafe(CHUNK_BYTES), 0, CHUNK_BYTES, null)
    if (bytesRead === 0) return Buffer.concat(chunks, length).toString('utf8')
    length += bytesRead
    if (length > limit) return undefined
    chunks.push(buffer.subarray(0, bytesRead))
  }
}

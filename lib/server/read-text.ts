import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

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
 * checked on the open file, so nothing can swap the path in between.
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
    return { text: await handle.readFile('utf8') }
  } finally {
    await handle.close()
  }
}

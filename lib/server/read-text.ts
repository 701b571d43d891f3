import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a folder, not a file'
}
/** Config files are a few KB; past this one is a mistake, and it is refused before it is read. */
const MAX_BYTES = 1024 * 1024

/** The reason an open file is refused, written for the operator, or undefined. */
function refusal (stats: { isFile: () => boolean, isDirectory: () => boolean, size: number }): string | undefined {
  if (stats.isDirectory()) return READ_ERRORS.EISDIR
  // A FIFO would block the read (and with it a reload) forever; /dev/zero would fill the memory.
  if (!stats.isFile()) return 'is not a regular file'
  return stats.size > MAX_BYTES ? 'is larger than 1 MiB' : undefined
}

/**
 * A file's text. When it cannot be read, `fail` turns the reason, written for the operator,
 * into the caller's own error. Only regular files up to 1 MiB are read.
 */
export async function readText (file: string, fail: (reason: string) => Error): Promise<string> {
  let reason: string | undefined
  try {
    // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one.
    const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      reason = refusal(await handle.stat())
      if (reason === undefined) return await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException
    reason = READ_ERRORS[code!] ?? `cannot be read (${code})`
  }
  throw fail(reason)
}

import { readFile } from 'node:fs/promises'

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a folder, not a file'
}

/**
 * A file's text. When it cannot be read, `fail` turns the reason, written for the operator,
 * into the caller's own error.
 */
export async function readText (file: string, fail: (reason: string) => Error): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException
    throw fail(READ_ERRORS[code!] ?? `cannot be read (${code})`)
  }
}

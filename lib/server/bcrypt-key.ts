/** The bytes of a password that bcrypt's key schedule reads. */
const KEY_BYTES = 72

/**
 * What bcrypt makes of a password: its UTF-8 bytes and a NUL, repeated to 72 bytes (bcryptjs'
 * `_key` reads them cyclically, from the start each time, for the `$2a$`, `$2b$` and `$2y$`
 * hashes the web config allows). Two passwords with the same key compare the same against every
 * such hash, and two with different keys never both match one: so once one password has matched
 * a hash, any other is decided by comparing keys, without bcrypt. (Passwords come from an HTTP
 * header, decoded to well-formed strings, which bcryptjs encodes as Buffer does.)
 */
export function bcryptKey (password: string): Buffer {
  return Buffer.alloc(KEY_BYTES).fill(`${password}\0`, 'utf8')
}

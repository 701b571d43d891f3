import { inspect } from 'node:util'

/** The longest piece of a refused value an error message shows. */
const SHOWN = 60

// What a terminal or a reader acts on rather than shows: Unicode's Cc (C0 controls, DEL, C1
// controls: ESC, CSI, BEL, NEL...), Cf (bidi overrides, tag characters) and the line and
// paragraph separators; and lone surrogates, which print as U+FFFD, so two values would look one.
const ACTED_ON = String.raw`\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}`
const UNPRINTABLE = new RegExp(`[${ACTED_ON}]`, 'gu')
const ALL_PRINTABLE = new RegExp(`^[^${ACTED_ON}]*$`, 'u')

/**
 * `escape`, remembered by character: a list of hostile names repeats a few characters many
 * times. At most one entry per character of the class above (about 2,300).
 */
function remembered (escape: (character: string) => string): (character: string) => string {
  const made = new Map<string, string>()
  return (character) => {
    let escaped = made.get(character)
    if (escaped === undefined) {
      escaped = escape(character)
      made.set(character, escaped)
    }
    return escaped
  }
}

/** `\xNN` for a character up to U+00FF, `\u{...}` above. */
const escapeCharacter = remembered((character) => {
  const code = character.codePointAt(0)!
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`
})

/**
 * A name or value as every message and list of this package displays it: in double quotes,
 * with `"` and `\` escaped and every character a terminal or reader would act on written as an
 * escape, so what an id, url or runner name says is printed, never executed. JSON.stringify is
 * not enough: it escapes C0 controls only, and writes C1 controls (U+009B acts as ESC [ on many
 * terminals), bidi overrides and U+2028 raw.
 */
export function quote (value: string): string {
  // The delimiters by string replacement, with no call per character: twice as fast as a regular expression.
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replace(UNPRINTABLE, escapeCharacter)}"`
}

/** `\uXXXX` for each UTF-16 unit of `character`: JSON's only escape above U+001F. */
const jsonEscape = remembered((character) => {
  let escaped = ''
  for (let unit = 0; unit < character.length; unit++) escaped += `\\u${character.charCodeAt(unit).toString(16).padStart(4, '0')}`
  return escaped
})

/**
 * JSON text with the characters `quote` escapes written as JSON escapes: a parser reads the same
 * values, and a terminal it is printed on shows them. JSON.stringify escapes C0 controls and
 * lone surrogates, but writes DEL, C1 controls, bidi overrides and U+2028 raw.
 */
export function escapeJson (json: string): string {
  return json.replace(UNPRINTABLE, jsonEscape)
}

/** Whether `value` holds none of the characters `quote` writes as escapes (beside `"` and `\`). */
export function printable (value: string): boolean {
  return ALL_PRINTABLE.test(value)
}

/**
 * `value` when it has at most `max` UTF-16 units, else its start and `…`: never half of a
 * surrogate pair, which would print as U+FFFD.
 */
export function cutShort (value: string, max: number): string {
  if (value.length <= max) return value
  const end = /[\uD800-\uDBFF]/.test(value[max - 1]!) ? max - 1 : max
  return `${value.slice(0, end)}…`
}

/**
 * A refused value as an error message shows it: strings quoted (see `quote`), anything else as
 * Node prints it (NaN, 10n, Symbol(s), circular objects), cut short, on one line, with the same
 * characters escaped. Unlike JSON.stringify it cannot throw, and it runs none of the value's
 * own code (no toJSON, no custom inspect, no getters), so a hostile value cannot replace the
 * coded error.
 */
export function describeValue (value: unknown): string {
  if (typeof value === 'string') {
    return value.length > SHOWN ? `${quote(cutShort(value, SHOWN))} (${value.length} characters)` : quote(value)
  }
  // Node escapes controls inside the strings it prints, but not bidi overrides or U+2028.
  const shown = inspect(value, { depth: 1, breakLength: Infinity, customInspect: false, maxArrayLength: 5, maxStringLength: SHOWN })
  return cutShort(shown, SHOWN).replace(UNPRINTABLE, escapeCharacter)
}

/** A build id or such in a message: as it is when plain, else quoted and cut short like a refused value. */
export function describeName (name: string): string {
  return /^[\w.:/-]{1,60}$/.test(name) ? name : describeValue(name)
}

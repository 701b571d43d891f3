import { inspect } from 'node:util'

/** The longest piece of a refused value an error message shows. */
const SHOWN = 60

/**
 * A refused value as an error message shows it: strings in JSON quotes, anything else as
 * Node prints it (NaN, 10n, Symbol(s), circular objects), cut short, on one line. Unlike
 * JSON.stringify it cannot throw, and it runs none of the value's own code (no toJSON, no
 * custom inspect, no getters), so a hostile value cannot replace the coded error.
 */
export function describeValue (value: unknown): string {
  if (typeof value === 'string') {
    return value.length > SHOWN ? `${JSON.stringify(`${value.slice(0, SHOWN)}…`)} (${value.length} characters)` : JSON.stringify(value)
  }
  const shown = inspect(value, { depth: 1, breakLength: Infinity, customInspect: false, maxArrayLength: 5, maxStringLength: SHOWN })
  return shown.length > SHOWN ? `${shown.slice(0, SHOWN)}…` : shown
}

/** A build id or such in a message: as it is when plain, else quoted and cut short like a refused value. */
export function describeName (name: string): string {
  return /^[\w.:/-]{1,60}$/.test(name) ? name : describeValue(name)
}

import { constants } from 'node:os'

export type StopSignal = 'SIGINT' | 'SIGTERM'

export interface SignalHandlers {
  reload: () => unknown
  /** A graceful stop; it ends the process itself when done. */
  stop: (signal: StopSignal) => void
  /** A second stop signal while the first is under way: the process ends at once. */
  stopNow: (signal: StopSignal) => void
}

export interface HeldSignals {
  /** From now on signals go to `handlers`; what arrived before is applied now (a stop wins over a reload). */
  handle: (handlers: SignalHandlers) => void
}

/** 128 + the signal's number: what a shell reports for a process that signal ended. */
export function signalExitCode (signal: StopSignal): number {
  return 128 + constants.signals[signal]
}

/**
 * Catches SIGHUP, SIGINT and SIGTERM from the first moment, before anything slow is loaded:
 * until a handler exists, Node's default action for SIGHUP ends the process. What arrives
 * before `handle` waits for it; one pending reload stands for any number.
 */
export function holdSignals (): HeldSignals {
  let handlers: SignalHandlers | undefined
  let reloadPending = false
  let stopping: StopSignal | undefined
  process.on('SIGHUP', () => {
    if (handlers === undefined) reloadPending = true
    else handlers.reload()
  })
  const stop = (signal: StopSignal): void => {
    if (stopping !== undefined) {
      if (handlers !== undefined) handlers.stopNow(signal)
      else process.exit(signalExitCode(signal))
      return
    }
    stopping = signal
    handlers?.stop(signal)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  return {
    handle: (next) => {
      handlers = next
      if (stopping !== undefined) next.stop(stopping)
      else if (reloadPending) next.reload()
    }
  }
}

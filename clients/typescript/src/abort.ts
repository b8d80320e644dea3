/**
 * One "abort" listener per AbortSignal, shared by every call and stream
 * that watches it. A long-lived signal (a shutdown controller, say) may be
 * passed to any number of concurrent calls: each adds a callback to the
 * signal's set instead of a listener of its own, so Node never warns about
 * too many listeners (MaxListenersExceededWarning), and the one listener
 * is removed from the signal as soon as the last callback is.
 */

interface Watch {
  callbacks: Set<{ fn: () => void }>;
  listener: () => void;
}

const watched = new WeakMap<AbortSignal, Watch>();

/**
 * Calls fn once when signal aborts (never if it already has: check
 * signal.aborted first). Returns the function that removes fn: call it
 * when the call or stream ends. Callbacks run in the order they were
 * added; one that throws does not keep the others from running (its error
 * is rethrown afterwards as an uncaught exception, the way EventTarget
 * reports a listener's).
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let w = watched.get(signal);
  if (!w) {
    const callbacks = new Set<{ fn: () => void }>();
    const listener = (): void => {
      watched.delete(signal);
      const all = [...callbacks];
      callbacks.clear();
      for (const c of all) {
        try {
          c.fn();
        } catch (e) {
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    };
    w = { callbacks, listener };
    watched.set(signal, w);
    signal.addEventListener("abort", listener, { once: true });
  }
  const entry = { fn };
  w.callbacks.add(entry);
  const mine = w;
  return () => {
    if (!mine.callbacks.delete(entry) || mine.callbacks.size > 0) return;
    if (watched.get(signal) === mine) watched.delete(signal);
    signal.removeEventListener("abort", mine.listener);
  };
}

/** How many listeners this module has on signal: 1 while any call watches it, else 0 (for tests). */
export function abortListeners(signal: AbortSignal): number {
  return watched.has(signal) ? 1 : 0;
}

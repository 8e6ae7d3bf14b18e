// The polite live region: urgent messages (a phase change, a result) are read at once; routine
// line updates at most once per interval, the latest winning, so screen readers are not spammed.

export const ROUTINE_INTERVAL_MS = 15000;

let region = null;
let lastRoutine = -Infinity;
let pending = null;
let timer = null;

export function attach(el) {
  region = el;
}

function say(text) {
  if (!region) return;
  // Clearing first makes a repeated identical message be read again.
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

export function announce(text, { urgent = false } = {}) {
  if (urgent) {
    clearTimeout(timer);
    timer = null;
    pending = null;
    lastRoutine = performance.now();
    say(text);
    return;
  }
  const now = performance.now();
  if (now - lastRoutine >= ROUTINE_INTERVAL_MS) {
    lastRoutine = now;
    say(text);
    return;
  }
  pending = text;
  if (!timer) {
    timer = setTimeout(() => {
      timer = null;
      if (pending !== null) {
        lastRoutine = performance.now();
        say(pending);
        pending = null;
      }
    }, ROUTINE_INTERVAL_MS - (now - lastRoutine));
  }
}

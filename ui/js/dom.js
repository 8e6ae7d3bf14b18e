// Tiny DOM builder. Everything goes through textContent and setAttribute, never innerHTML,
// so text from the backend (titles, error messages) can never become markup.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on<event>` (listener), `hidden`,
 * booleans (set when true), anything else as an attribute. Children may be nodes, strings,
 * arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key === 'class') el.setAttribute('class', value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' && 'value' in el) el.value = value;
    else if (key === 'checked' && 'checked' in el) el.checked = Boolean(value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces all children of `el`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** Sets text only when it changed, so screen readers and selection are not disturbed needlessly. */
export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

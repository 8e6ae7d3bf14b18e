// Turns the backend's `qr_svg` markup into a safe SVG element: parsed as XML with DOMParser,
// accepted only with an <svg> root in the SVG namespace, and stripped of anything active
// (scripts, foreignObject, event handlers, links, external references) before it is adopted.

const SVG_NS = 'http://www.w3.org/2000/svg';
const ALLOWED = new Set(['svg', 'g', 'path', 'rect', 'circle', 'polygon', 'line', 'title', 'desc', 'defs', 'use']);

/** Returns an <svg> element, or null when the markup is not a clean SVG document. */
export function sanitizeSvg(markup) {
  if (typeof markup !== 'string' || markup.length === 0 || markup.length > 500_000) return null;
  let doc;
  try {
    doc = new DOMParser().parseFromString(markup, 'image/svg+xml');
  } catch {
    return null;
  }
  const root = doc.documentElement;
  if (!root || root.localName !== 'svg' || root.namespaceURI !== SVG_NS) return null;
  if (doc.getElementsByTagName('parsererror').length > 0) return null;
  clean(root);
  const svg = document.importNode(root, true);
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('aria-hidden', 'true');
  return svg;
}

function clean(el) {
  for (const child of [...el.children]) {
    if (child.namespaceURI !== SVG_NS || !ALLOWED.has(child.localName)) {
      child.remove();
    } else {
      clean(child);
    }
  }
  for (const attr of [...el.attributes]) {
    const name = attr.name.toLowerCase();
    const value = attr.value.trim().toLowerCase();
    const isLink = name === 'href' || name.endsWith(':href');
    if (name.startsWith('on') || (isLink && !value.startsWith('#')) || name === 'style' || value.includes('javascript:')) {
      el.removeAttribute(attr.name);
    }
  }
}

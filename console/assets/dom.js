// DOM helpers for the console. Every piece of data reaches the page through
// textContent (never innerHTML), and attributes are set from constants or
// from values this file builds (numbers, encoded hash links): a payload, an
// error message or a record field can only ever be text.

const SVG_NS = 'http://www.w3.org/2000/svg';

// el('tag', {class, testid, ...attrs}, ...children): children are nodes or
// strings (strings become text nodes).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  if (!attrs) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'testid') node.setAttribute('data-testid', value);
    else if (name === 'text') node.textContent = String(value);
    else if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? '' : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// A hash link; every part is percent-encoded, so the value is always a
// same-page "#/…" link whatever the data holds.
export function hashLink(route, params) {
  return '#/' + route + queryString(params);
}

export function queryString(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

export function link(text, route, params, testid) {
  return el('a', { href: hashLink(route, params), testid }, text);
}

// "2026-12-01T10:00:00Z" from epoch ms; "-" for 0 / missing.
export function isoTime(ms) {
  if (!ms) return '-';
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

// A short age: "45s", "12m", "3h", "2d".
export function age(seconds) {
  if (seconds === undefined || seconds === null || seconds < 0) return '-';
  if (seconds < 120) return Math.round(seconds) + 's';
  if (seconds < 7200) return Math.round(seconds / 60) + 'm';
  if (seconds < 172800) return Math.round(seconds / 3600) + 'h';
  return Math.round(seconds / 86400) + 'd';
}

// A JSON value as indented text; a string that holds JSON is parsed first.
export function prettyJson(value) {
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

// A two-column table of label/value pairs (values as text or nodes).
export function facts(pairs, testid) {
  const rows = pairs
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([label, value, id]) => el('tr', null, el('th', null, label), el('td', { testid: id }, value)));
  return el('table', { class: 'facts', testid }, el('tbody', null, rows));
}

export function table(headers, rows, testid) {
  return el(
    'table',
    { class: 'list', testid },
    el('thead', null, el('tr', null, headers.map((h) => el('th', null, h)))),
    el('tbody', null, rows),
  );
}

export function empty(text) {
  return el('p', { class: 'empty', testid: 'empty-state' }, text);
}

export function errorBox(err) {
  return el('p', { class: 'error', testid: 'error', role: 'alert' }, describeError(err));
}

export function describeError(err) {
  if (err && err.code) return err.code + ': ' + err.message;
  return String(err && err.message ? err.message : err);
}

// Replaces node's children: arrays are flattened, null/false dropped,
// strings become text nodes.
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// The console's client of the admin API. The session cookie (HttpOnly) goes
// with every request by itself; the CSRF token the login answers is kept in
// memory only and sent as X-CSRF-Token on every POST and DELETE. A 401 means
// the session ended: the page shows the login form again.

let csrf = '';
let onLoggedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setLoggedOutHandler(fn) {
  onLoggedOut = fn;
}

async function call(method, path, body, { quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'the service did not answer (' + e.message + ')');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return { status: response.status, data };
  const error = data && data.error ? data.error : { code: 'http_' + response.status, message: response.statusText };
  if (response.status === 401 && !quiet401) {
    csrf = '';
    onLoggedOut();
  }
  throw new ApiError(response.status, error.code, error.message);
}

export const api = {
  get: (path) => call('GET', path).then((r) => r.data),
  post: (path, body) => call('POST', path, body),
  del: (path) => call('DELETE', path).then((r) => r.data),
};

// True when a session exists (the CSRF token is then known).
export async function resumeSession() {
  try {
    const r = await call('GET', '/console/session', undefined, { quiet401: true });
    csrf = r.data.csrf;
    return true;
  } catch (e) {
    if (e.status === 401) return false;
    throw e;
  }
}

export async function login(token) {
  const r = await call('POST', '/console/login', { token }, { quiet401: true });
  csrf = r.data.csrf;
}

export async function logout() {
  try {
    await call('POST', '/console/logout', {}, { quiet401: true });
  } finally {
    csrf = '';
  }
}

// The tenants, from /v1/admin/status (cached for the page's life).
let tenantsCache = null;
export async function tenants() {
  if (!tenantsCache) {
    const status = await api.get('/v1/admin/status');
    tenantsCache = status.tenants.map((t) => t.tenant);
  }
  return tenantsCache;
}

export function enc(s) {
  return encodeURIComponent(s);
}

// The console's entry point: login, the navigation bar and the hash router.
// Each page is a module exporting render(main, params, ctx); ctx.alive()
// turns false once the user has moved on, so a page's polling stops.
import { login, logout, resumeSession, setLoggedOutHandler } from './api.js';
import { el, errorBox, fill } from './dom.js';
import { renderOverview } from './overview.js';
import { renderEvents } from './events.js';
import { renderEvent } from './detail.js';
import { renderJob, renderJobs } from './jobs.js';
import { renderPayments, renderReconcile } from './pages.js';

const routes = {
  '': renderOverview,
  events: renderEvents,
  event: renderEvent,
  jobs: renderJobs,
  job: renderJob,
  payments: renderPayments,
  reconcile: renderReconcile,
};

let generation = 0;
let loggedIn = false;

function parseHash() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?', 2);
  const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
  const params = Object.fromEntries(new URLSearchParams(query || ''));
  return { page: parts[0] || '', arg: parts[1] || '', params };
}

function markNav(page) {
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('current', a.dataset.page === page);
  }
}

async function route() {
  if (!loggedIn) return;
  const main = document.getElementById('main');
  const mine = ++generation;
  const { page, arg, params } = parseHash();
  const render = routes[page];
  markNav(page === 'event' ? 'events' : page === 'job' ? 'jobs' : page);
  fill(main, el('p', { class: 'loading' }, 'loading…'));
  const ctx = { alive: () => mine === generation && loggedIn, arg };
  if (!render) {
    fill(main, el('p', { class: 'empty', testid: 'empty-state' }, 'no such page'));
    return;
  }
  try {
    await render(main, params, ctx);
  } catch (e) {
    if (ctx.alive()) fill(main, errorBox(e));
  }
}

function showLogin(message) {
  loggedIn = false;
  generation++;
  document.getElementById('app').hidden = true;
  document.getElementById('login').hidden = false;
  document.getElementById('main').replaceChildren();
  const box = document.getElementById('login-error');
  box.textContent = message || '';
  box.hidden = !message;
  document.getElementById('login-token').focus();
}

function showApp() {
  loggedIn = true;
  document.getElementById('login').hidden = true;
  document.getElementById('app').hidden = false;
  route();
}

async function onLogin(event) {
  event.preventDefault();
  const input = document.getElementById('login-token');
  const token = input.value;
  input.value = '';
  try {
    await login(token);
    showApp();
  } catch (e) {
    showLogin(e.status === 401 ? 'wrong token: use the admin token' : e.message);
  }
}

async function onLogout() {
  try {
    await logout();
  } finally {
    showLogin('logged out');
  }
}

async function start() {
  document.getElementById('login-form').addEventListener('submit', onLogin);
  document.getElementById('logout').addEventListener('click', onLogout);
  window.addEventListener('hashchange', route);
  setLoggedOutHandler(() => showLogin('the session ended: log in again'));
  try {
    if (await resumeSession()) showApp();
    else showLogin('');
  } catch (e) {
    showLogin(e.message);
  }
}

start();

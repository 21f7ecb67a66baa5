// Dead letters and the other states: the event index's filters (tenant,
// state, object, key, error, since, until), cursor paging, and bulk replay
// or discard of the filtered set (a dry run's count first, then the
// confirmation, then the job's page).
import { api, tenants } from './api.js';
import { el, empty, errorBox, fill, hashLink, isoTime, link, table } from './dom.js';

const STATES = ['dead', 'parked', 'retrying', 'pending', 'done', 'discarded'];
const OBJECTS = ['CUSTOMER', 'ARINVOICE', 'ARPYMT'];
const FILTERS = ['tenant', 'state', 'object', 'key', 'error', 'since', 'until'];
const NOUNS = {
  dead: 'dead letters',
  parked: 'parked events',
  retrying: 'retrying events',
  pending: 'pending events',
  done: 'done events',
  discarded: 'discarded events',
};

export function filterOf(params) {
  const f = {};
  for (const k of FILTERS) if (params[k]) f[k] = params[k];
  return f;
}

// "no dead letters for tenant acme", "no failed events for any tenant
// matching object CUSTOMER, error BL01001973".
export function emptyText(f) {
  let s = 'no ' + (NOUNS[f.state] || 'failed events') + ' for ' + (f.tenant ? 'tenant ' + f.tenant : 'any tenant');
  const rest = FILTERS.filter((k) => k !== 'tenant' && k !== 'state' && f[k]).map((k) => k + ' ' + f[k]);
  if (rest.length) s += ' matching ' + rest.join(', ');
  return s;
}

export async function renderEvents(main, params, ctx) {
  const f = filterOf(params);
  const query = new URLSearchParams(f);
  if (params.cursor) query.set('cursor', params.cursor);
  const [names, page] = await Promise.all([tenants(), api.get('/v1/admin/events?' + query.toString())]);
  if (!ctx.alive()) return;
  const title = (NOUNS[f.state] || 'Failed events').replace(/^./, (c) => c.toUpperCase());
  fill(main,
    el('h1', null, title),
    filterForm(f, names),
    bulkPanel(f),
    page.events.length ? eventsTable(page.events) : empty(emptyText(f)),
    pager(f, params.cursor, page.next_cursor),
  );
}

function select(name, options, value, anyLabel) {
  return el(
    'select',
    { name, id: 'filter-' + name, testid: 'filter-' + name },
    el('option', { value: '' }, anyLabel),
    options.map((o) => el('option', { value: o, selected: o === value }, o)),
  );
}

function input(name, value, placeholder) {
  const node = el('input', { name, id: 'filter-' + name, testid: 'filter-' + name, placeholder, maxlength: 256 });
  node.value = value || '';
  return node;
}

function field(label, control) {
  return el('label', { class: 'field' }, el('span', null, label), control);
}

function filterForm(f, names) {
  const form = el(
    'form',
    { class: 'filters', testid: 'filter-form' },
    field('tenant', select('tenant', names, f.tenant, 'any')),
    field('state', select('state', STATES, f.state, 'any')),
    field('object', select('object', OBJECTS, f.object, 'any')),
    field('record key', input('key', f.key, 'RECORDNO')),
    field('error', input('error', f.error, 'code or errorno')),
    field('since', input('since', f.since, '2026-12-01T00:00:00Z')),
    field('until', input('until', f.until, 'epoch ms or RFC 3339')),
    el('button', { type: 'submit', testid: 'filter-apply' }, 'Apply'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    location.hash = hashLink('events', filterOf(data));
  });
  return form;
}

function eventsTable(events) {
  const rows = events.map((e) =>
    el(
      'tr',
      { testid: 'event-row' },
      el('td', null, link(e.id, 'event/' + encodeURIComponent(e.id), { tenant: e.tenant }, 'event-link')),
      el('td', null, e.tenant),
      el('td', { class: 'state ' + stateClass(e.state) }, e.state),
      el('td', null, e.object),
      el('td', null, e.key),
      el('td', null, e.action),
      el('td', { class: 'mono' }, e.errorno || e.code),
      el('td', { class: 'reason' }, e.reason),
      el('td', null, String(e.attempt)),
      el('td', null, isoTime(e.updated_at_ms)),
    ),
  );
  return table(['event', 'tenant', 'state', 'object', 'key', 'action', 'error', 'reason', 'attempts', 'changed'], rows, 'events-table');
}

export function stateClass(state) {
  return STATES.includes(state) ? 'st-' + state : '';
}

function pager(f, cursor, next) {
  const links = [];
  if (cursor) links.push(link('first page', 'events', f, 'first-page'));
  if (next) links.push(link('next page', 'events', { ...f, cursor: next }, 'next-page'));
  return el('p', { class: 'pager' }, links);
}

// Bulk actions over everything the filter matches (the tenant is required).
// The reason comes first (a discard needs one, even for its dry run); the
// dry run's count is shown before the confirmation.
function bulkPanel(f) {
  const box = el('div', { class: 'bulk', testid: 'bulk' });
  if (!f.tenant) {
    box.append(el('p', { class: 'note' }, 'Choose a tenant to replay or discard everything the filter matches.'));
    return box;
  }
  const reason = el('input', { testid: 'bulk-reason', maxlength: 1000, placeholder: 'why (recorded with each event)' });
  const note = el('p', { class: 'error', testid: 'bulk-error', role: 'alert', hidden: true });
  const start = (action) => () => {
    if (action === 'discard' && !reason.value.trim()) {
      note.textContent = 'a discard needs a reason: say why these events are dropped';
      note.hidden = false;
      return;
    }
    dryRun(box, f, action, reason.value.trim());
  };
  box.append(
    field('reason for a bulk action (required to discard)', reason),
    el('button', { type: 'button', testid: 'bulk-replay', onclick: start('replay') }, 'Replay all matching…'),
    el('button', { type: 'button', class: 'danger', testid: 'bulk-discard', onclick: start('discard') }, 'Discard all matching…'),
    note,
  );
  return box;
}

async function dryRun(box, f, action, reason) {
  const reset = () => box.replaceWith(bulkPanel(f));
  const body = { filter: f };
  if (reason) body.reason = reason;
  fill(box, el('p', { class: 'loading' }, 'counting…'));
  let answer;
  try {
    answer = (await api.post('/v1/admin/events/' + action, { ...body, dry_run: true })).data;
  } catch (e) {
    fill(box, errorBox(e), el('button', { type: 'button', onclick: reset }, 'Back'));
    return;
  }
  const confirm = el('button', { type: 'button', class: 'danger', testid: 'bulk-confirm' }, 'Confirm: ' + action + ' ' + answer.matched);
  const samples = answer.samples.map((s) => el('li', null, s.id + ' ' + s.object + ' ' + s.key + ' ' + (s.errorno || s.code)));
  fill(box,
    el('p', { testid: 'bulk-count' }, answer.matched + ' event' + (answer.matched === 1 ? '' : 's') + ' match; ' + action + ' them all?'),
    samples.length ? el('ul', { class: 'samples' }, samples) : null,
    reason ? el('p', null, 'reason: ', el('span', { testid: 'bulk-reason-shown' }, reason)) : null,
    confirm,
    el('button', { type: 'button', testid: 'bulk-cancel', onclick: reset }, 'Cancel'),
  );
  if (answer.matched === 0) confirm.disabled = true;
  confirm.addEventListener('click', async () => {
    confirm.disabled = true;
    try {
      const r = (await api.post('/v1/admin/events/' + action, body)).data;
      location.hash = hashLink('job/' + encodeURIComponent(r.job_id));
    } catch (e) {
      confirm.disabled = false;
      box.append(errorBox(e));
    }
  });
}

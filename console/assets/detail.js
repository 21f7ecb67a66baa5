// One event: its summary, every attempt with Intacct's errorno, description
// and correction in plain sight, the redacted payload and the envelope as
// text, the payment ledger entry, the mirror record, and replay / discard.
import { api, enc } from './api.js';
import { el, errorBox, facts, fill, isoTime, link, prettyJson } from './dom.js';
import { stateClass } from './events.js';

const COLLECTIONS = { CUSTOMER: 'customers', ARINVOICE: 'invoices', ARPYMT: 'payments' };
// States a replay or discard may still change; the page refreshes itself
// while the event is in one a worker is about to move it from.
const MOVING = ['pending', 'retrying'];

export async function renderEvent(main, params, ctx) {
  const id = ctx.arg;
  const q = params.tenant ? '?tenant=' + enc(params.tenant) : '';
  const detail = await api.get('/v1/admin/events/' + enc(id) + q);
  if (!ctx.alive()) return;
  const e = detail.event;
  const envelope = { ...detail.envelope };
  const raw = envelope.raw;
  delete envelope.raw;
  fill(main,
    el('h1', null, 'Event ', el('span', { class: 'mono', testid: 'event-id' }, e.id)),
    el('p', null, link('back to the ' + e.state + ' list of ' + e.tenant, 'events', { tenant: e.tenant, state: e.state })),
    facts(
      [
        ['state', el('span', { class: 'state ' + stateClass(e.state) }, e.state), 'event-state'],
        [e.state === 'done' ? 'last failure' : 'why', e.reason, 'event-reason'],
        ['tenant', e.tenant],
        ['source', e.source],
        ['record', e.object + ' ' + e.key + ' (' + e.action + ')', 'event-record'],
        ['last error', [e.code, e.errorno].filter(Boolean).join(' / '), 'event-error'],
        ['attempts', String(e.attempt)],
        ['received', isoTime(e.received_at_ms)],
        ['first failure', isoTime(e.first_failure_ms)],
        ['state changed', isoTime(e.updated_at_ms)],
      ],
      'event-facts',
    ),
    actions(e, ctx),
    el('h2', null, 'Attempts (oldest first)'),
    attempts(detail.attempts),
    el('h2', null, 'Payload as received (redacted)'),
    el('pre', { class: 'payload', testid: 'event-payload' }, raw === undefined ? '(none kept)' : prettyJson(raw)),
    el('h2', null, 'Envelope'),
    el('pre', { testid: 'event-envelope' }, prettyJson(envelope)),
    detail.ledger ? [el('h2', null, 'Payment ledger entry'), el('pre', { testid: 'event-ledger' }, prettyJson(detail.ledger))] : null,
    mirrorBox(e),
  );
  if (MOVING.includes(e.state)) {
    setTimeout(() => {
      if (ctx.alive()) renderEvent(main, params, ctx).catch((err) => main.append(errorBox(err)));
    }, 2000);
  }
}

function attempts(list) {
  if (!Array.isArray(list) || list.length === 0) return el('p', { class: 'empty', testid: 'empty-state' }, 'no attempts recorded');
  return el(
    'ol',
    { class: 'attempts', testid: 'attempts' },
    list.map((a) => {
      if (a.kind && a.kind !== 'failure') {
        return el(
          'li',
          { class: 'attempt history', testid: 'attempt' },
          el('strong', null, a.kind),
          ' by ' + (a.actor || '?') + ' at ' + isoTime(a.at),
          a.reason ? el('div', { class: 'reason' }, 'reason: ', el('span', { testid: 'attempt-reason' }, a.reason)) : null,
          a.fields ? el('div', null, 'set ', el('span', { class: 'mono' }, JSON.stringify(a.fields)), ' (was ', el('span', { class: 'mono' }, JSON.stringify(a.was ?? {})), ')') : null,
        );
      }
      return el(
        'li',
        { class: 'attempt failure', testid: 'attempt' },
        el('div', null, el('strong', null, 'attempt ' + a.attempt), ' at ' + isoTime(a.at) + ', ' + a['class'] + ': ', el('span', { class: 'mono' }, a.code)),
        el('div', { class: 'message', testid: 'attempt-message' }, a.message),
        facts(
          [
            ['errorno', a.errorno, 'attempt-errorno'],
            ['description', a.description, 'attempt-description'],
            ['correction', a.correction, 'attempt-correction'],
            ['control id', a.controlid],
          ],
          'attempt-intacct',
        ),
      );
    }),
  );
}

function actions(e, ctx) {
  const result = el('p', { class: 'result', testid: 'action-result', role: 'status' });
  const replayReason = el('input', { testid: 'replay-reason', maxlength: 1000, placeholder: 'why (recorded)' });
  const discardReason = el('input', { testid: 'discard-reason', maxlength: 1000, placeholder: 'why (required)' });
  const settled = el('input', { type: 'checkbox', testid: 'discard-settled' });
  const act = (action, reasonInput, extra) => async (event) => {
    const button = event.currentTarget;
    const body = { ids: [e.id], ...extra() };
    if (reasonInput.value) body.reason = reasonInput.value;
    button.disabled = true;
    result.textContent = action + '…';
    try {
      const r = (await api.post('/v1/admin/events/' + action, body)).data;
      const acted = r.replayed ?? r.discarded ?? 0;
      result.textContent = acted
        ? (action === 'replay' ? 'replayed' : 'discarded') + '; refreshing…'
        : 'skipped: ' + r.skipped.map((s) => s.code + ' (state ' + s.state + ')').join(', ');
      if (acted) setTimeout(() => ctx.alive() && window.dispatchEvent(new HashChangeEvent('hashchange')), 500);
    } catch (err) {
      fill(result, errorBox(err));
    } finally {
      button.disabled = false;
    }
  };
  const canReplay = e.state !== 'done';
  const canDiscard = ['dead', 'parked', 'retrying'].includes(e.state);
  return el(
    'div',
    { class: 'actions', testid: 'event-actions' },
    el(
      'div',
      { class: 'action' },
      el('label', { class: 'field' }, el('span', null, 'replay reason'), replayReason),
      el('button', { type: 'button', testid: 'replay-button', disabled: !canReplay, onclick: act('replay', replayReason, () => ({})) }, 'Replay'),
    ),
    el(
      'div',
      { class: 'action' },
      el('label', { class: 'field' }, el('span', null, 'discard reason'), discardReason),
      e.source === 'stripe' ? el('label', { class: 'check' }, settled, ' settled by hand in Intacct') : null,
      el(
        'button',
        { type: 'button', class: 'danger', testid: 'discard-button', disabled: !canDiscard, onclick: act('discard', discardReason, () => (settled.checked ? { settled_by_hand: true } : {})) },
        'Discard',
      ),
    ),
    result,
  );
}

// The mirror's record of the event's object and key (Intacct events only).
function mirrorBox(e) {
  const collection = COLLECTIONS[e.object];
  if (e.source === 'stripe' || !collection || !e.key) return null;
  const out = el('pre', { testid: 'mirror-record', class: 'mirror' }, 'not loaded');
  const load = async () => {
    out.textContent = 'loading…';
    try {
      out.textContent = prettyJson(await api.get('/v1/tenants/' + enc(e.tenant) + '/' + collection + '/' + enc(e.key)));
    } catch (err) {
      out.textContent = err.status === 404 ? 'not in the mirror (' + e.object + ' ' + e.key + ')' : err.code + ': ' + err.message;
    }
  };
  return el(
    'section',
    { class: 'mirror-box' },
    el('h2', null, 'Mirror record ' + e.object + ' ' + e.key),
    el('button', { type: 'button', testid: 'mirror-load', onclick: load }, 'Load the mirror record'),
    out,
  );
}

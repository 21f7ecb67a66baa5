// Unsettled payments (from /v1/admin/status) and the reconcile reports with
// their drift (/v1/admin/reconcile/runs?tenant=).
import { api, enc, tenants } from './api.js';
import { age, el, empty, fill, hashLink, table } from './dom.js';

export async function renderPayments(main, params, ctx) {
  const status = await api.get('/v1/admin/status');
  if (!ctx.alive()) return;
  const shown = status.tenants.filter((t) => !params.tenant || t.tenant === params.tenant);
  fill(main,
    el('h1', null, 'Unsettled payments'),
    shown.map((t) => {
      const p = t.payments || { unsettled: [], unsettled_count: 0 };
      const rows = p.unsettled.map((u) =>
        el(
          'tr',
          { testid: 'payment-row' },
          el('td', null, age(u.age_s)),
          el('td', { class: 'state' }, u.state),
          el('td', { class: 'mono' }, u.payment_id),
          el('td', null, u.invoice),
          el('td', null, u.customer),
          el('td', null, u.amount + ' ' + u.currency),
          el('td', null, String(u.sends)),
          el('td', null, u.recordno),
          el('td', { class: 'reason' }, u.last_error),
        ),
      );
      return el(
        'section',
        { class: 'card wide', testid: 'payments-tenant' },
        el('h2', null, t.tenant + ' — ' + p.unsettled_count + ' unsettled'),
        rows.length
          ? table(['age', 'state', 'payment', 'invoice', 'customer', 'amount', 'sends', 'ARPYMT', 'last error'], rows, 'payments-table')
          : empty('no unsettled payments for tenant ' + t.tenant),
        p.unsettled_count > rows.length ? el('p', { class: 'note' }, 'the oldest ' + rows.length + ' of ' + p.unsettled_count + ' are shown') : null,
      );
    }),
  );
}

const DRIFT = ['created', 'updated', 'tombstoned', 'drafts_removed'];
const PAYMENT_DRIFT = ['adopted', 'made_due', 'reversed', 'conflicts'];

export async function renderReconcile(main, params, ctx) {
  const names = await tenants();
  const tenant = params.tenant || names[0];
  const picker = el(
    'p',
    { class: 'tabs' },
    names.map((n) => el('a', { href: hashLink('reconcile', { tenant: n }), class: n === tenant ? 'current' : '' }, n)),
  );
  if (!tenant) {
    fill(main, el('h1', null, 'Reconcile reports'), empty('no tenants are configured'));
    return;
  }
  const answer = await api.get('/v1/admin/reconcile/runs?tenant=' + enc(tenant));
  if (!ctx.alive()) return;
  fill(main,
    el('h1', null, 'Reconcile reports'),
    picker,
    answer.runs.length ? answer.runs.map(runView) : empty('no reconcile runs for tenant ' + tenant + ' yet'),
  );
}

function runView(run) {
  const objects = Object.entries(run.objects || {}).map(([name, o]) =>
    el('tr', null, el('td', null, name), el('td', null, o.state), el('td', null, String(o.listed)), DRIFT.map((k) => el('td', { class: o[k] ? 'drift' : '' }, String(o[k] ?? 0)))),
  );
  const p = run.payments;
  const errors = (run.errors || []).map((e) =>
    el('li', null, [e.object, e.key, e.code, e.errorno].filter(Boolean).join(' ') + ': ' + e.message, e.correction ? el('div', { class: 'note' }, 'correction: ' + e.correction) : null),
  );
  return el(
    'section',
    { class: 'card wide', testid: 'reconcile-run' },
    el('h2', null, run.state + (run.dry_run ? ' (dry run)' : '') + ' — ' + run.run_id),
    el('p', null, 'started ' + (run.started_at || '-') + ', finished ' + (run.finished_at || '-') + ', ' + run.trigger + ', ' + run.api_calls + ' API calls' + (run.failure ? '; failure: ' + run.failure : '')),
    objects.length ? table(['object', 'state', 'listed', ...DRIFT], objects, 'reconcile-drift') : null,
    p ? el('p', { testid: 'reconcile-payments' }, 'payments: ' + PAYMENT_DRIFT.map((k) => k + ' ' + (p[k] ?? 0)).join(', ')) : null,
    errors.length ? [el('h3', null, 'Errors'), el('ul', null, errors)] : null,
  );
}


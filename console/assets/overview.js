// Overview: one card per tenant from /v1/admin/status (queue figures, the
// Intacct circuit and monthly calls against the budget, unsettled
// payments), with a chart of the last 24 h from /v1/admin/activity.
import { api, enc } from './api.js';
import { age, el, errorBox, facts, fill, link, svg } from './dom.js';

const SERIES = [
  ['handled', 'handled'],
  ['failed', 'failed'],
  ['dead', 'dead-lettered'],
];

export async function renderOverview(main, params, ctx) {
  const status = await api.get('/v1/admin/status');
  if (!ctx.alive()) return;
  const cards = status.tenants.map((t) => tenantCard(t, ctx));
  fill(main,
    el('h1', null, 'Overview'),
    cards.length ? el('div', { class: 'cards' }, cards) : el('p', { class: 'empty', testid: 'empty-state' }, 'no tenants are configured'),
  );
}

function budgetText(intacct) {
  const calls = intacct.calls_this_month;
  const budget = intacct.monthly_call_budget;
  if (!budget) return calls + ' (no monthly budget set)';
  const pct = Math.round((calls / budget) * 100);
  return calls + ' / ' + budget + ' (' + pct + '%)';
}

function tenantCard(t, ctx) {
  const q = t.queue;
  const circuit = t.intacct.circuit === 'open' ? 'open: ' + (t.intacct.circuit_reason || 'credentials rejected') : 'closed';
  const unsettled = t.payments ? t.payments.unsettled_count : 0;
  const chartBox = el('div', { class: 'chart', testid: 'activity' }, el('p', { class: 'loading' }, 'loading activity…'));
  loadChart(t.tenant, chartBox, ctx);
  return el(
    'section',
    { class: 'card', testid: 'tenant-card' },
    el('h2', { testid: 'tenant-name' }, t.tenant),
    facts(
      [
        ['queue depth', String(q.depth), 'figure-depth'],
        ['pending (with a worker)', String(q.pending), 'figure-pending'],
        ['oldest pending', q.oldest_pending_age_s ? age(q.oldest_pending_age_s) : 'none', 'figure-oldest'],
        ['retrying', link(String(q.retrying), 'events', { tenant: t.tenant, state: 'retrying' }), 'figure-retrying'],
        ['parked', link(String(q.parked), 'events', { tenant: t.tenant, state: 'parked' }), 'figure-parked'],
        ['dead letters', link(String(q.dead), 'events', { tenant: t.tenant, state: 'dead' }), 'figure-dead'],
        ['Intacct circuit', el('span', { class: t.intacct.circuit === 'open' ? 'bad' : 'good' }, circuit), 'figure-circuit'],
        ['calls this month', budgetText(t.intacct), 'figure-calls'],
        ['unsettled payments', link(String(unsettled), 'payments', { tenant: t.tenant }), 'figure-unsettled'],
      ],
      'tenant-figures',
    ),
    chartBox,
  );
}

async function loadChart(tenant, box, ctx) {
  try {
    const activity = await api.get('/v1/admin/activity?tenant=' + enc(tenant));
    if (!ctx.alive()) return;
    fill(box, chart(activity));
  } catch (e) {
    if (ctx.alive()) fill(box, errorBox(e));
  }
}

// Per-minute counts as three polylines over the 24 h window; minutes the
// answer omits count 0.
function chart(activity) {
  const W = 720;
  const H = 140;
  const PAD_L = 36;
  const PAD_B = 18;
  const minute = activity.minute_ms || 60000;
  const from = activity.from_ms;
  const n = Math.max(1, Math.round((activity.to_ms - from) / minute));
  const counts = Object.fromEntries(SERIES.map(([k]) => [k, new Array(n).fill(0)]));
  const totals = Object.fromEntries(SERIES.map(([k]) => [k, 0]));
  for (const m of activity.minutes) {
    const i = Math.floor((m.t - from) / minute);
    if (i < 0 || i >= n) continue;
    for (const [k] of SERIES) {
      counts[k][i] += Number(m[k]) || 0;
      totals[k] += Number(m[k]) || 0;
    }
  }
  const max = Math.max(1, ...SERIES.map(([k]) => Math.max(...counts[k])));
  const x = (i) => (PAD_L + (i / Math.max(1, n - 1)) * (W - PAD_L - 4)).toFixed(1);
  const y = (v) => (4 + (1 - v / max) * (H - PAD_B - 8)).toFixed(1);
  const graph = svg(
    'svg',
    { viewBox: '0 0 ' + W + ' ' + H, class: 'activity-chart', testid: 'activity-chart', role: 'img' },
    svg('title', null, 'events handled, failed and dead-lettered per minute, last 24 h'),
    svg('line', { x1: PAD_L, y1: H - PAD_B, x2: W - 4, y2: H - PAD_B, class: 'axis' }),
    svg('line', { x1: PAD_L, y1: 4, x2: PAD_L, y2: H - PAD_B, class: 'axis' }),
    svg('text', { x: PAD_L - 4, y: 12, class: 'tick end' }, String(max)),
    svg('text', { x: PAD_L - 4, y: H - PAD_B, class: 'tick end' }, '0'),
    svg('text', { x: PAD_L, y: H - 4, class: 'tick' }, '-24h'),
    svg('text', { x: (PAD_L + W) / 2, y: H - 4, class: 'tick mid' }, '-12h'),
    svg('text', { x: W - 4, y: H - 4, class: 'tick end' }, 'now'),
    SERIES.map(([k]) =>
      svg('polyline', {
        class: 'series ' + k,
        testid: 'series-' + k,
        points: counts[k].map((v, i) => x(i) + ',' + y(v)).join(' '),
      }),
    ),
  );
  const legend = el(
    'p',
    { class: 'legend', testid: 'activity-legend' },
    SERIES.map(([k, label]) => el('span', { class: 'key ' + k }, label + ' ' + totals[k])),
    ' in the last 24 h (per minute; max ' + max + ')',
  );
  return el('div', null, graph, legend);
}

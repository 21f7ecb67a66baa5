// Bulk jobs: the list, and one job's progress polled every second while it
// runs, with a cancel button (DELETE /v1/admin/jobs/{id}).
import { api, enc } from './api.js';
import { el, empty, errorBox, facts, fill, isoTime, link, prettyJson, table } from './dom.js';

export async function renderJobs(main, params, ctx) {
  const q = params.tenant ? '?tenant=' + enc(params.tenant) : '';
  const answer = await api.get('/v1/admin/jobs' + q);
  if (!ctx.alive()) return;
  const rows = answer.jobs.map((j) =>
    el(
      'tr',
      { testid: 'job-row' },
      el('td', null, link(j.job_id, 'job/' + encodeURIComponent(j.job_id), null, 'job-link')),
      el('td', null, j.tenant),
      el('td', null, j.action),
      el('td', { class: 'state job-' + (j.state === 'running' ? 'running' : 'ended') }, j.state),
      el('td', null, j.processed + ' / ' + j.matched),
      el('td', null, String(j.replayed ?? j.discarded ?? 0)),
      el('td', null, String(j.skipped)),
      el('td', { class: 'reason' }, j.reason),
      el('td', null, isoTime(j.created_at_ms)),
    ),
  );
  fill(main,
    el('h1', null, 'Bulk jobs'),
    rows.length
      ? table(['job', 'tenant', 'action', 'state', 'processed', 'acted', 'skipped', 'reason', 'created'], rows, 'jobs-table')
      : empty('no bulk jobs' + (params.tenant ? ' for tenant ' + params.tenant : '') + ' (finished jobs are kept 7 days)'),
  );
}

export async function renderJob(main, params, ctx) {
  const id = ctx.arg;
  const box = el('div', { testid: 'job' });
  fill(main, el('h1', null, 'Job ', el('span', { class: 'mono', testid: 'job-id' }, id)), box);
  const poll = async () => {
    if (!ctx.alive()) return;
    try {
      const job = await api.get('/v1/admin/jobs/' + enc(id));
      if (!ctx.alive()) return;
      fill(box, jobView(job, ctx, poll));
      if (job.state === 'running') setTimeout(poll, 1000);
    } catch (e) {
      if (ctx.alive()) fill(box, errorBox(e));
    }
  };
  await poll();
}

function jobView(job, ctx, refresh) {
  const acted = job.action === 'discard' ? job.discarded : job.replayed;
  const progress = el('progress', { max: Math.max(1, job.matched), value: job.processed, testid: 'job-progress-bar' });
  const cancel = el('button', { type: 'button', class: 'danger', testid: 'job-cancel' }, 'Cancel the job');
  cancel.disabled = job.state !== 'running';
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      await api.del('/v1/admin/jobs/' + enc(job.job_id));
      refresh();
    } catch (e) {
      cancel.after(errorBox(e));
    }
  });
  const skipped = (job.skipped_samples || []).map((s) => el('li', null, s.id + ': ' + s.code + ' (state ' + s.state + ')'));
  return [
    el('p', { testid: 'job-progress' }, job.processed + ' of ' + job.matched + ' processed, ' + acted + ' ' + (job.action === 'discard' ? 'discarded' : 'replayed') + ', ' + job.skipped + ' skipped'),
    progress,
    facts(
      [
        ['state', job.state, 'job-state'],
        ['action', job.action],
        ['tenant', job.tenant],
        ['filter', prettyJson(job.filter)],
        ['reason', job.reason],
        ['actor', job.actor],
        ['created', isoTime(job.created_at_ms)],
        ['finished', job.finished_at_ms ? isoTime(job.finished_at_ms) : ''],
      ],
      'job-facts',
    ),
    cancel,
    skipped.length ? [el('h2', null, 'Skipped (samples)'), el('ul', null, skipped)] : null,
    el('p', null, link('the events of this filter', 'events', job.filter), ' · ', link('all jobs', 'jobs')),
  ].flat().filter(Boolean);
}

// The console in headless Chromium, end to end (run by browser_test.cpp,
// which starts Redis, the sandbox and the service and makes two dead
// letters first: CUSTOMER <customer> from a denied read, and a hostile
// ARINVOICE <invoice> event whose payload holds an <img onerror> tag).
//
// Environment (the admin token never goes on a command line):
//   ISYNC_CONSOLE_URL    http://127.0.0.1:<admin port>/console
//   ISYNC_SANDBOX_URL    the sandbox's control API, http://127.0.0.1:<port>
//   ISYNC_ADMIN_TOKEN    the admin token to log in with
//   ISYNC_ARTIFACTS      where the screenshots go
//   ISYNC_CUSTOMER, ISYNC_INVOICE   the record numbers of the two dead letters
//   ISYNC_CHROMIUM       the browser (default /usr/bin/chromium)
// Exit 0 when every step passed; 1 with the failed step on stderr.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const consoleUrl = env('ISYNC_CONSOLE_URL');
const origin = new URL(consoleUrl).origin;
const sandboxUrl = env('ISYNC_SANDBOX_URL');
const token = env('ISYNC_ADMIN_TOKEN');
const artifacts = env('ISYNC_ARTIFACTS');
const customer = env('ISYNC_CUSTOMER');
const invoice = env('ISYNC_INVOICE');
const HOSTILE = '<img src=x onerror=alert(1)>';
const WAIT = 30_000;

mkdirSync(artifacts, { recursive: true });

// Every dialog, page error and console error fails the run, except the one
// failed request a step expects (the browser logs any 4xx answer as a
// console error: the 401 of /console/session before the login, and the 403
// of the CSRF probe).
const problems = [];
let expected = null; // { status, path }

function step(name) {
  console.log(`step: ${name}`);
}

function check(ok, message) {
  if (!ok) throw new Error(message);
}

async function sandbox(method, path, body) {
  const r = await fetch(sandboxUrl + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  check(r.ok, `sandbox ${method} ${path}: HTTP ${r.status} ${await r.text()}`);
}

const browser = await chromium.launch({
  executablePath: env('ISYNC_CHROMIUM', '/usr/bin/chromium'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(WAIT);

page.on('dialog', async (dialog) => {
  problems.push(`a dialog opened (${dialog.type()}: ${dialog.message()})`);
  await dialog.dismiss().catch(() => {});
});
page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
page.on('console', (msg) => {
  if (msg.type() !== 'error') return;
  const url = msg.location().url || '';
  const text = msg.text();
  if (
    expected &&
    text.includes(`status of ${expected.status}`) &&
    new URL(url, origin).pathname === expected.path
  ) {
    return;
  }
  problems.push(`console error: ${text} (${url})`);
});
// Nothing but the service: any request elsewhere fails the run.
page.on('request', (request) => {
  const url = request.url();
  if (!url.startsWith(origin + '/')) problems.push(`a request left the service: ${url}`);
});

const byTestId = (id) => page.getByTestId(id);
const shot = (name) => page.screenshot({ path: join(artifacts, name), fullPage: true });

async function textOf(id) {
  return (await byTestId(id).first().textContent()) ?? '';
}

let failed = null;
try {
  step('the login form, then logging in');
  expected = { status: 401, path: '/console/session' };
  await page.goto(consoleUrl);
  await byTestId('login-form').waitFor();
  await byTestId('login-token').fill('not-the-token');
  expected = { status: 401, path: '/console/login' };
  await byTestId('login-submit').click();
  await page.getByText('wrong token').waitFor();
  await byTestId('login-token').fill(token);
  await byTestId('login-submit').click();
  await byTestId('tenant-card').first().waitFor();
  expected = null;
  check(!(await page.content()).includes(token), 'the admin token appears in the page');

  step('the overview shows the dead letters and the activity chart');
  await page.waitForFunction(() => {
    const dead = document.querySelector('[data-testid="figure-dead"]');
    return dead && dead.textContent.trim() === '2';
  });
  await byTestId('activity-chart').waitFor();
  check((await page.locator('[data-testid="activity-chart"] polyline').count()) === 3, 'the chart has three series');
  const legend = await textOf('activity-legend');
  check(/dead-lettered [1-9]/.test(legend), `the chart counts the dead letters: "${legend}"`);
  await shot('overview.png');

  step('the dead letters list');
  await byTestId('nav-events').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="event-row"]').length === 2);
  await shot('dead-letters.png');

  step('an empty state says what it means');
  await page.goto(`${consoleUrl}#/events?tenant=acme&state=parked`);
  const none = await textOf('empty-state');
  check(none === 'no parked events for tenant acme', `empty state: "${none}"`);

  step('the fault is fixed in the sandbox');
  await sandbox('PUT', '/v1/faults', { deny_read_objects: ['ARINVOICE'] });

  step('filtering the list');
  await page.goto(`${consoleUrl}#/events?state=dead`);
  await byTestId('filter-form').waitFor();
  await byTestId('filter-tenant').selectOption('acme');
  await byTestId('filter-object').selectOption('CUSTOMER');
  await byTestId('filter-key').fill(customer);
  await byTestId('filter-apply').click();
  await page.waitForURL((u) => u.hash.includes('object=CUSTOMER') && u.hash.includes(`key=${customer}`));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="event-row"]').length === 1);

  step('the event, with Intacct\'s errorno, description and correction in plain sight');
  await byTestId('event-link').click();
  await byTestId('event-state').waitFor();
  check((await textOf('event-state')) === 'dead', 'the event is dead');
  check((await textOf('attempt-errorno')) === 'BL01001973', 'errorno shown');
  check((await textOf('attempt-description')).includes('permission'), 'description shown');
  check((await textOf('attempt-correction')).startsWith('Ask a company administrator'), 'correction shown');
  for (const id of ['attempt-errorno', 'attempt-description', 'attempt-correction', 'event-payload']) {
    check(await byTestId(id).first().isVisible(), `${id} is visible`);
  }
  await shot('detail.png');

  step('replaying it');
  await byTestId('replay-reason').fill('permission granted');
  await byTestId('replay-button').click();
  await page.waitForFunction(
    () => document.querySelector('[data-testid="event-state"]')?.textContent === 'done',
    null,
    { timeout: 60_000 },
  );
  check((await textOf('attempt-reason')) === 'permission granted', 'the replay and its reason are in the history');

  step('the record in the mirror');
  // The replayed read may land a moment after the event is done (a read
  // waits for its WHENMODIFIED second to settle): until then the page says
  // the record is not in the mirror (a 404 the browser logs).
  expected = { status: 404, path: `/v1/tenants/acme/customers/${customer}` };
  let record = '';
  for (const until = Date.now() + WAIT; !record.includes(`On call ${customer}`); ) {
    check(Date.now() < until, `the mirror record never showed the new name: ${record}`);
    await byTestId('mirror-load').click();
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="mirror-record"]')?.textContent;
      return t && t !== 'loading…';
    });
    record = await textOf('mirror-record');
    if (!record.includes(`On call ${customer}`)) await page.waitForTimeout(500);
  }
  expected = null;
  await shot('detail-done.png');

  step('a hostile payload renders as text and runs nothing');
  await page.goto(`${consoleUrl}#/events?tenant=acme&state=dead&object=ARINVOICE`);
  await byTestId('event-link').first().click();
  await byTestId('event-payload').waitFor();
  const payload = await textOf('event-payload');
  check(payload.includes(HOSTILE), `the payload shows the tag as text: ${payload}`);
  check((await page.locator('img').count()) === 0, 'no <img> element was created');
  await page.waitForTimeout(1000);
  const hostileId = await textOf('event-id');
  await shot('hostile.png');

  step('a POST with the cookie but without X-CSRF-Token is refused');
  expected = { status: 403, path: '/v1/admin/events/replay' };
  const probe = await page.evaluate(async (id) => {
    const r = await fetch('/v1/admin/events/replay', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ids: [id], reason: 'csrf probe' }),
    });
    return { status: r.status, body: await r.text() };
  }, hostileId);
  expected = null;
  check(probe.status === 403, `CSRF probe answered ${probe.status}`);
  check(JSON.parse(probe.body).error.code === 'csrf_failed', `CSRF probe body ${probe.body}`);
  check((await textOf('event-state')) === 'dead', 'the probe changed nothing');

  step('a bulk discard: the dry-run count, the confirmation, the job');
  await page.goto(`${consoleUrl}#/events?tenant=acme&state=dead`);
  await byTestId('bulk-discard').click();
  check((await textOf('bulk-error')).startsWith('a discard needs a reason'), 'a discard without a reason is stopped');
  await byTestId('bulk-reason').fill('hostile test event');
  await byTestId('bulk-discard').click();
  await byTestId('bulk-count').waitFor();
  const count = await textOf('bulk-count');
  check(count.startsWith('1 event match'), `dry-run count: "${count}"`);
  await byTestId('bulk-confirm').click();
  await byTestId('job-progress').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="job-state"]')?.textContent === 'done');
  const progress = await textOf('job-progress');
  check(progress.startsWith('1 of 1 processed, 1 discarded'), `job progress: "${progress}"`);
  check(await byTestId('job-cancel').isDisabled(), 'a finished job cannot be cancelled');
  await page.goto(`${consoleUrl}#/events?tenant=acme&state=dead`);
  check((await textOf('empty-state')) === 'no dead letters for tenant acme', 'no dead letters left');

  step('the other pages');
  for (const [nav, ready] of [
    ['nav-jobs', '[data-testid="job-row"]'],
    ['nav-payments', '[data-testid="payments-tenant"]'],
    ['nav-reconcile', '[data-testid="reconcile-run"], [data-testid="empty-state"]'],
  ]) {
    await byTestId(nav).click();
    await page.locator(ready).first().waitFor();
  }

  step('logging out');
  await byTestId('logout').click();
  await byTestId('login-form').waitFor();
  await page.waitForTimeout(500);
} catch (error) {
  failed = error;
  await shot('failure.png').catch(() => {});
}

await browser.close();
if (failed) problems.unshift(`failed: ${failed.stack || failed.message}`);
if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log('console flow: every step passed');

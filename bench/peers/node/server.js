'use strict';
// For the ingest benchmark only, never a target: the smart-event receiver a
// Node team would write, measured beside intacct-sync in the same run.
// Fastify 4 + ioredis 5 (exact versions in package-lock.json; both run on
// Node 18), one process. The same route, token check, body parsing and
// envelope as intacct-sync's POST /v1/intacct/{tenant}/events for form
// bodies (application/x-www-form-urlencoded, pairs split on & or newlines),
// and dedup + XADD in one Lua EVAL (a MULTI cannot make the XADD
// conditional on the dedup key being new).
//
// Environment: PORT, REDIS_URL (redis://127.0.0.1:6379/0), TENANT (bench),
// TENANT_TOKEN (required), DEDUP_WINDOW_SECONDS (259200, intacct-sync's 72 h).
const crypto = require('node:crypto');
const Fastify = require('fastify');
const Redis = require('ioredis');

const port = Number(process.env.PORT || 8080);
const tenant = process.env.TENANT || 'bench';
const token = process.env.TENANT_TOKEN;
const windowSeconds = Number(process.env.DEDUP_WINDOW_SECONDS || 259200);
if (!token) {
  console.error('TENANT_TOKEN is required');
  process.exit(2);
}

const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379/0');
redis.defineCommand('accept', {
  numberOfKeys: 2,
  lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('XADD', KEYS[2], '*', 'e', ARGV[3], 'a', '0', 'f', '0')
  return {ARGV[1], 0}
end
return {redis.call('GET', KEYS[1]), 1}
`,
});

const MAX_FIELDS = 200;
const MAX_NAME = 128;
const NAME_RE = /^[A-Za-z0-9_.-]+$/;

class BadRequest extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function unescapeForm(s) {
  if (!s.includes('%') && !s.includes('+')) return s;
  const bytes = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '+') {
      bytes.push(0x20);
    } else if (c === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeForm(body) {
  const fields = [];
  for (const pair of body.split(/[&\r\n]/)) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) throw new BadRequest('malformed_body', `pair "${pair.slice(0, 64)}" has no '='`);
    const name = unescapeForm(pair.slice(0, eq));
    const value = unescapeForm(pair.slice(eq + 1));
    if (name === null || value === null) throw new BadRequest('malformed_body', 'bad %-escape');
    if (fields.length >= MAX_FIELDS) {
      throw new BadRequest('malformed_body', `the body has more than ${MAX_FIELDS} fields`);
    }
    fields.push([name, value]);
  }
  return fields;
}

// MM/DD/YYYY HH:MM:SS (Intacct's form) as Unix seconds, UTC.
function parseWhenmodified(s) {
  const m = /^(\d{2})\/(\d{2})\/(\d{4})(?: (\d{2}):(\d{2}):(\d{2}))?$/.exec(s);
  if (!m) return null;
  const t = Date.UTC(+m[3], +m[1] - 1, +m[2], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0));
  return Number.isNaN(t) ? null : Math.floor(t / 1000);
}

function smartEvent(fields) {
  const seen = new Set();
  const ev = { snapshot: [] };
  for (const [name, value] of fields) {
    if (name.length === 0 || name.length > MAX_NAME || !NAME_RE.test(name)) {
      throw new BadRequest('invalid_field', `field name "${name.slice(0, 64)}" is not allowed`);
    }
    const key = name.toLowerCase();
    if (seen.has(key)) throw new BadRequest('malformed_body', `field "${name}" appears more than once`);
    seen.add(key);
    if (key === 'object' || key === 'action' || key === 'recordno' || key === 'whenmodified') {
      ev[key] = value;
    } else {
      ev.snapshot.push([name.toUpperCase(), value]);
    }
  }
  if (ev.object === undefined) throw new BadRequest('invalid_field', 'field "object" is required');
  ev.object = ev.object.trim().toUpperCase();
  if (!['CUSTOMER', 'ARINVOICE', 'ARPYMT'].includes(ev.object)) {
    throw new BadRequest('invalid_field', 'field "object" must be CUSTOMER, ARINVOICE or ARPYMT');
  }
  if (ev.action === undefined) throw new BadRequest('invalid_field', 'field "action" is required');
  ev.action = ev.action.trim().toLowerCase();
  if (!['add', 'set', 'delete'].includes(ev.action)) {
    throw new BadRequest('invalid_field', 'field "action" must be add, set or delete');
  }
  const recordno = (ev.recordno || '').trim().replace(/^0+(?=.)/, '');
  if (!/^[0-9]{1,19}$/.test(recordno) || recordno === '0') {
    throw new BadRequest('invalid_field', 'field "recordno" must be a positive integer');
  }
  ev.key = recordno;
  if (ev.whenmodified === undefined) {
    throw new BadRequest('invalid_field', 'field "whenmodified" is required');
  }
  ev.whenmodified = ev.whenmodified.trim();
  ev.version = parseWhenmodified(ev.whenmodified);
  if (ev.version === null) throw new BadRequest('invalid_field', 'field "whenmodified" is not a date');
  ev.snapshot.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return ev;
}

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
const part = (s) => `${Buffer.byteLength(s)}:${s};`;

function dedupKey(ev) {
  let input = part(tenant) + part(ev.object) + part(ev.action === 'add' ? 'set' : ev.action) +
    part(ev.key) + part(String(ev.version));
  if (ev.snapshot.length) input += part(sha256(ev.snapshot.map(([n, v]) => part(n) + part(v)).join('')));
  return `isync:{${tenant}}:dedup:${sha256(input)}`;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function ulid(ms) {
  let out = '';
  for (let i = 9, t = ms; i >= 0; i--, t = Math.floor(t / 32)) out = CROCKFORD[t % 32] + out;
  for (const b of crypto.randomBytes(16)) out += CROCKFORD[b % 32];
  return out;
}

const app = Fastify({ bodyLimit: 1024 * 1024 });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' },
  (req, body, done) => done(null, body));

const expected = Buffer.from(`Bearer ${token}`);
function authorized(header) {
  const got = Buffer.from(header || '');
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

app.get('/healthz', async () => ({ status: 'ok' }));

app.post('/v1/intacct/:tenant/events', async (req, reply) => {
  if (req.params.tenant !== tenant || !authorized(req.headers.authorization)) {
    return reply.code(401).send({ error: 'unauthorized', message: 'unknown tenant or bad token' });
  }
  let ev;
  try {
    ev = smartEvent(decodeForm(req.body));
  } catch (e) {
    if (!(e instanceof BadRequest)) throw e;
    return reply.code(400).send({ error: e.code, message: e.message });
  }
  const now = Date.now();
  const eventId = ulid(now);
  const envelope = JSON.stringify({
    v: 1,
    event_id: eventId,
    source: 'intacct',
    tenant,
    object: ev.object,
    action: ev.action,
    key: ev.key,
    version: ev.version,
    whenmodified: ev.whenmodified,
    snapshot: Object.fromEntries(ev.snapshot),
    received_at: now,
    content_type: req.headers['content-type'],
    raw: req.body,
  });
  try {
    const [id, duplicate] = await redis.accept(dedupKey(ev), `isync:{${tenant}}:events`, eventId,
      windowSeconds, envelope);
    return reply.code(202).send({ event_id: id, duplicate: duplicate === 1 });
  } catch (e) {
    return reply.code(503).send({ error: 'unavailable', message: 'the queue is unavailable' });
  }
});

app.listen({ port, host: '127.0.0.1' }).catch((e) => {
  console.error(e.message);
  process.exit(1);
});

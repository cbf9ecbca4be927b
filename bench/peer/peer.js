#!/usr/bin/env node
// peer: the benchmark's reference point. The same campaign as the fleet's (bench/bench.py),
// written the way a team would with CoolSMS's official Node.js SDK (`solapi`): stream the
// customers from MySQL with mysql2, render the #{} variables, messageService.send() in batches
// of 10,000 (the SDK's and the API's maximum per request), and record message_logs with
// multi-row INSERTs of 1,000 rows through pg. One process, no deliberate slowness: the inserts
// of one batch overlap with reading and sending the next. With PEER_WRITE=copy it writes each
// batch's rows with one COPY FROM STDIN (pg-copy-streams) instead, as a team tuning this way
// would.
//
// Settings come from the environment (bench.py sets them):
//   PEER_PG_HOST PEER_PG_PORT PEER_PG_DB PEER_PG_USER       platform database
//   PEER_MYSQL_HOST PEER_MYSQL_PORT PEER_MYSQL_USER PEER_MYSQL_PASSWORD PEER_MYSQL_DB
//   PEER_WORKFLOW_ID PEER_TEMPLATE_ID                         what to send
//   PEER_BASE_URL                                            the API (the simulator)
//   PEER_WRITE                                               insert (default) or copy
//   MF_COOLSMS_API_KEY MF_COOLSMS_API_SECRET MF_COOLSMS_SENDER
// Prints one line: `peer: run=<id> recipients=N sent=S failed=F seconds=X`.
'use strict';

const { SolapiMessageService, MessageNotReceivedError } = require('solapi');
const mysql = require('mysql2');
const { Client } = require('pg');
const { from: copyFrom } = require('pg-copy-streams');
const { pipeline } = require('stream/promises');
const { Readable } = require('stream');

const SEND_BATCH = 10000;
const INSERT_ROWS = 1000;
const PRICES = { sms: 8.4, lms: 25.9 };
const SOLAPI_ORIGIN = 'https://api.solapi.com';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

// solapi 6.0.1 has no base-URL option: DefaultService sets `baseUrl = "https://api.solapi.com"`
// as a class field and every request goes through the global fetch(). The least invasive
// redirection is therefore a fetch wrapper that rewrites that one origin; the SDK's own code
// (signing, validation, retries, response decoding) runs unchanged.
function redirectSolapi(baseUrl) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    if (typeof input === 'string' && input.startsWith(SOLAPI_ORIGIN)) {
      input = baseUrl + input.slice(SOLAPI_ORIGIN.length);
    }
    return realFetch(input, init);
  };
}

// Korean mobile numbers: strip separators, +82/0082 to 0, 010 + 8 digits or 011/016-019.
function normalisePhone(raw) {
  if (raw == null) return null;
  let d = String(raw).trim().replace(/[\s\-().]/g, '');
  if (d.startsWith('+82')) d = '0' + d.slice(3).replace(/^0+/, '');
  else if (d.startsWith('0082')) d = '0' + d.slice(4).replace(/^0+/, '');
  if (!/^\d+$/.test(d)) return null;
  if (/^010\d{8}$/.test(d) || /^01[16789]\d{7,8}$/.test(d)) return d;
  return null;
}

function render(template, vars) {
  return template.replace(/#\{\s*([^{}#\n\r]+?)\s*\}/g, (m, name) =>
    (name in vars ? String(vars[name]) : m));
}

// EUC-KR (CP949) length: ASCII one byte, everything else two.
function euckrBytes(s) {
  let n = 0;
  for (const ch of s) n += ch.codePointAt(0) < 0x80 ? 1 : 2;
  return n;
}

const COLUMNS = ['workflow_run_id', 'template_id', 'recipient_phone', 'recipient_name',
  'message_type', 'message_content', 'variables_used', 'status', 'provider',
  'provider_message_id', 'cost', 'sent_at', 'failed_at', 'error_code', 'error_message'];

async function insertRows(pg, rows) {
  for (let off = 0; off < rows.length; off += INSERT_ROWS) {
    const chunk = rows.slice(off, off + INSERT_ROWS);
    const params = [];
    const tuples = chunk.map((r) => {
      const base = params.length;
      params.push(...r);
      return '(' + r.map((_, i) => `$${base + i + 1}`).join(',') + ')';
    });
    await pg.query(`INSERT INTO message_logs (${COLUMNS.join(',')}) VALUES ${tuples.join(',')}`,
      params);
  }
}

// One value in COPY's text format: \N for NULL, backslash escapes for the characters it
// treats specially.
function copyField(v) {
  if (v === null || v === undefined) return '\\N';
  const s = v instanceof Date ? v.toISOString() : String(v);
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
}

async function copyRows(pg, rows) {
  if (rows.length === 0) return;
  const text = rows.map((r) => r.map(copyField).join('\t')).join('\n') + '\n';
  const sink = pg.query(copyFrom(`COPY message_logs (${COLUMNS.join(',')}) FROM STDIN`));
  await pipeline(Readable.from([text]), sink);
}

const writeRows = process.env.PEER_WRITE === 'copy' ? copyRows : insertRows;

async function main() {
  const t0 = process.hrtime.bigint();
  const baseUrl = need('PEER_BASE_URL');
  redirectSolapi(baseUrl);
  const messageService = new SolapiMessageService(need('MF_COOLSMS_API_KEY'),
    need('MF_COOLSMS_API_SECRET'));
  const from = need('MF_COOLSMS_SENDER');
  const pg = new Client({
    host: need('PEER_PG_HOST'), port: Number(need('PEER_PG_PORT')),
    database: need('PEER_PG_DB'), user: need('PEER_PG_USER'),
  });
  await pg.connect();
  const workflowId = need('PEER_WORKFLOW_ID');
  const templateId = need('PEER_TEMPLATE_ID');
  const tpl = (await pg.query('SELECT content FROM message_templates WHERE id = $1',
    [templateId])).rows[0].content;
  const runId = (await pg.query("INSERT INTO workflow_runs (workflow_id, status, trigger_type) " +
    "VALUES ($1, 'running', 'manual') RETURNING id", [workflowId])).rows[0].id;

  const my = mysql.createConnection({
    host: need('PEER_MYSQL_HOST'), port: Number(need('PEER_MYSQL_PORT')),
    user: need('PEER_MYSQL_USER'), password: need('PEER_MYSQL_PASSWORD'),
    database: need('PEER_MYSQL_DB'),
  });

  const seen = new Set();
  let batch = [];      // {to, name, text, vars}
  let failedRows = []; // rows failed before sending (invalid phones)
  let pending = Promise.resolve();
  const totals = { recipients: 0, sent: 0, failed: 0, cost: 0 };

  async function flush() {
    const msgs = batch;
    batch = [];
    const rows = failedRows;
    failedRows = [];
    if (msgs.length > 0) {
      let res;
      try {
        res = await messageService.send(msgs.map((m) => ({ to: m.to, from, text: m.text })),
          { showMessageList: true });
      } catch (e) {
        if (!(e instanceof MessageNotReceivedError)) throw e;
        res = { messageList: [], failedMessageList: e.failedMessageList };
      }
      const now = new Date();
      const accepted = new Map();
      for (const m of res.messageList || []) accepted.set(m.to, m);
      const failed = new Map();
      for (const f of res.failedMessageList || []) failed.set(String(f.to).replace(/-/g, ''), f);
      for (const m of msgs) {
        const a = accepted.get(m.to);
        const type = a && a.type ? String(a.type).toLowerCase()
          : (euckrBytes(m.text) <= 90 ? 'sms' : 'lms');
        if (a) {
          const cost = PRICES[type] || 0;
          totals.sent += 1;
          totals.cost += cost;
          rows.push([runId, templateId, m.to, m.name, type, m.text, m.vars, 'sent', 'coolsms',
            a.messageId, cost, now, null, null, null]);
        } else {
          const f = failed.get(m.to) || { statusCode: 'UNKNOWN', statusMessage: 'not in response' };
          totals.failed += 1;
          rows.push([runId, templateId, m.to, m.name, type, m.text, m.vars, 'failed', 'coolsms',
            null, 0, null, now, String(f.statusCode), f.statusMessage]);
        }
      }
    }
    await pending;                      // one batch of inserts in flight at a time
    pending = writeRows(pg, rows);
    pending.catch(() => {});            // awaited (and rethrown) by the next flush
  }

  const stream = my.query('SELECT id, name, phone FROM customers ORDER BY id').stream();
  for await (const row of stream) {
    const phone = normalisePhone(row.phone);
    if (phone === null) {
      totals.recipients += 1;
      totals.failed += 1;
      failedRows.push([runId, templateId, String(row.phone ?? '').slice(0, 20), row.name, 'sms',
        null, '{}', 'failed', 'coolsms', null, 0, null, new Date(), 'INVALID_PHONE',
        'invalid phone number']);
      continue;
    }
    if (seen.has(phone)) continue;
    seen.add(phone);
    totals.recipients += 1;
    const vars = { name: row.name ?? '고객', id: String(row.id), coupon: 'NOV2026' };
    batch.push({ to: phone, name: row.name, text: render(tpl, vars), vars: JSON.stringify(vars) });
    if (batch.length >= SEND_BATCH) await flush();
  }
  await flush();
  await pending;
  my.end();
  await pg.query("UPDATE workflow_runs SET status = 'completed', completed_at = now(), " +
    'target_count = $2, success_count = $3, failed_count = $4, total_cost = $5, ' +
    'execution_time_ms = (extract(epoch FROM now() - started_at) * 1000)::int WHERE id = $1',
  [runId, totals.recipients, totals.sent, totals.failed, totals.cost.toFixed(2)]);
  await pg.end();
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`peer: run=${runId} recipients=${totals.recipients} sent=${totals.sent} ` +
    `failed=${totals.failed} seconds=${secs.toFixed(3)}`);
}

main().catch((e) => {
  console.error(`peer: error: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});

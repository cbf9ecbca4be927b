#!/usr/bin/env node
/*
 * contract.js: CoolSMS/SOLAPI's official Node.js SDK (npm `solapi`, pinned in package.json)
 * as the referee of the simulator and of the fleet's request bodies. See README.md.
 *
 *   node contract.js [--sim PATH] [--capture FILE]... [--no-live] [--verbose]
 *
 * Live part (unless --no-live): starts the simulator binary on a free port, points the SDK at
 * it, calls send, getMessages, createGroup, addMessagesToGroup, getGroup, getGroupMessages,
 * sendGroup, getBlacks, getGroups, removeGroupMessages, removeGroup, and decodes every raw JSON
 * answer with the SDK's own exported response schemas. A field the schema requires and the simulator
 * omits (or gives the wrong type) fails the check and is named with its path.
 *
 * Capture part (each --capture FILE): JSON lines {"method","path","body"} of the requests the
 * fleet sent (the simulator's capture_file knob); every request body and list query is
 * validated with the SDK's request schemas.
 *
 * Prints one line per check and ends with "N passed, N failed"; exit status 1 on any failure.
 * Uses only the SDK (and the `effect` copy the SDK itself loads) and node's standard library.
 */
'use strict';

const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const sdk = require('solapi');
// The schemas are effect Schemas; decode them with the very effect module the SDK loaded.
const sdkDir = path.dirname(require.resolve('solapi'));
const { Schema, Either, ParseResult } = require(require.resolve('effect', { paths: [sdkDir] }));

const SDK_BASE_URL = 'https://api.solapi.com'; // DefaultService.baseUrl in solapi 6.0.1
const SENDER = '0212345678';
const BLACK_NUMBERS = ['01090000031', '01090000032', '01090000033'];

// ------------------------------------------------------------------ command line

function usage(code) {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write('usage: node contract.js [--sim PATH] [--capture FILE]... [--no-live] [--verbose]\n' +
    '  --sim PATH      the coolsms-sim binary (default $MF_BUILD_DIR/tools/coolsms-sim/coolsms-sim)\n' +
    '  --capture FILE  validate the fleet requests captured in FILE (repeatable)\n' +
    '  --no-live       only validate captures, do not start the simulator\n' +
    '  --verbose       also print the simulator fields each SDK schema does not declare\n');
  process.exit(code);
}

function parseArgs(argv) {
  const a = { sim: null, captures: [], live: true, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    if (arg === '--sim') a.sim = next();
    else if (arg === '--capture') a.captures.push(next());
    else if (arg === '--no-live') a.live = false;
    else if (arg === '--verbose') a.verbose = true;
    else if (arg === '-h' || arg === '--help') usage(0);
    else if (!arg.startsWith('-') && a.sim === null) a.sim = arg;
    else usage(2);
  }
  if (a.sim === null && process.env.MF_BUILD_DIR)
    a.sim = path.join(process.env.MF_BUILD_DIR, 'tools/coolsms-sim/coolsms-sim');
  if (a.live && a.sim === null) {
    process.stderr.write('contract: give the simulator binary (--sim PATH or $MF_BUILD_DIR)\n');
    process.exit(2);
  }
  if (!a.live && a.captures.length === 0) usage(2);
  return a;
}

// ------------------------------------------------------------------ checks and reporting

let passed = 0;
let failed = 0;
let verbose = false;

function pass(name, detail) {
  passed++;
  console.log(`ok    ${name}${detail ? ` (${detail})` : ''}`);
}

function fail(name, why) {
  failed++;
  const lines = Array.isArray(why) ? why : [why];
  console.log(`FAIL  ${name}: ${lines[0]}`);
  for (const l of lines.slice(1)) console.log(`        ${l}`);
}

function note(line) {
  console.log(`      note: ${line}`);
}

// Paths of decode issues, with array indices and record keys (message and group ids) folded,
// so that 500 messages missing one field give one line.
function foldPath(p) {
  return p.map((k) => {
    if (typeof k === 'number') return '[]';
    if (/^M4V[0-9A-Z]{29}$/.test(String(k))) return '<messageId>';
    if (/^G4V[0-9A-Z]{29}$/.test(String(k))) return '<groupId>';
    return String(k);
  }).join('.').replace(/\.\[\]/g, '[]') || '(root)';
}

function describeIssue(i, what) {
  if (i._tag === 'Missing') return `required by the SDK schema, missing in the ${what}`;
  if (i._tag === 'Unexpected') return `not declared by the SDK schema`;
  return i.message.replace(/\s+/g, ' ');
}

function foldIssues(found, what) {
  const seen = new Map();
  for (const i of found) {
    const line = `${foldPath(i.path)}: ${describeIssue(i, what)}`;
    seen.set(line, (seen.get(line) || 0) + 1);
  }
  return [...seen].map(([line, n]) => (n > 1 ? `${line} (x${n})` : line));
}

// Decodes `data` with an SDK schema. Excess properties are ignored for answers (the real API
// sends more than any SDK declares) and refused for requests (the SDK strips undeclared fields
// before sending, so a body carrying one is a body the SDK could never send).
function decode(schema, data, onExcessProperty = 'ignore') {
  const r = Schema.decodeUnknownEither(schema, { errors: 'all', onExcessProperty })(data);
  if (Either.isRight(r)) return { ok: true, value: r.right, issues: [] };
  return { ok: false, issues: ParseResult.ArrayFormatter.formatErrorSync(r.left) };
}

// The fields of an answer that the schema does not declare (information, never a failure).
function undeclared(schema, data) {
  const r = decode(schema, data, 'error');
  return r.ok ? [] : r.issues.filter((i) => i._tag === 'Unexpected');
}

function checkAnswer(name, schemaName, raw) {
  const schema = sdk[schemaName];
  if (!schema) {
    fail(name, `solapi does not export ${schemaName}`);
    return null;
  }
  const r = decode(schema, raw);
  if (!r.ok) {
    fail(`${name} decodes with ${schemaName}`, foldIssues(r.issues, 'simulator answer'));
    return null;
  }
  pass(`${name} decodes with ${schemaName}`);
  if (verbose) {
    const extra = foldIssues(undeclared(schema, raw), 'answer').map((l) => l.split(':')[0]);
    if (extra.length) note(`fields the schema does not declare: ${extra.join(', ')}`);
  }
  return r.value;
}

function expect(name, cond, why, detail) {
  if (cond) pass(name, detail);
  else fail(name, why);
  return cond;
}

// ------------------------------------------------------------------ the simulator

function startSimulator(binary, apiKey, apiSecret, captureFile) {
  if (!fs.existsSync(binary)) throw new Error(`${binary} does not exist (build the tree first)`);
  const env = {};
  // A clean simulator: none of the caller's MF_SIM_* knobs (faults, capture file) leak in.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MF_SIM_')) env[k] = v;
  Object.assign(env, {
    MF_SIM_PORT: '0',
    MF_SIM_API_KEY: apiKey,
    MF_SIM_API_SECRET: apiSecret,
    MF_SIM_SENDERS: SENDER,
    MF_SIM_SEED: '11',
    MF_SIM_DELIVER_DELAY_MS: '300',
    MF_SIM_CAPTURE_FILE: captureFile,
    MF_SIM_CONTROL: '1', // POST /_sim/black seeds the 080 opt-out list read by getBlacks
  });
  const child = childProcess.spawn(binary, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d.toString()).slice(-20000);
  });
  const stopped = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  const port = new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error('the simulator printed no port within 10 s')), 10000);
    rl.once('line', (line) => {
      clearTimeout(timer);
      const m = /:(\d+)\s*$/.exec(line);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`unexpected first line from the simulator: ${line}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the simulator exited with ${code}: ${stderr.slice(-2000)}`));
    });
    child.on('error', (e) => reject(e));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await stopped;
      clearTimeout(t);
    }
  };
  process.on('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { port, stop, stderr: () => stderr };
}

// ------------------------------------------------------------------ the SDK, pointed at it
//
// solapi 6.0.1 has no base URL option: SolapiMessageService builds one internal service per
// API family in its constructor, each with the field `baseUrl = "https://api.solapi.com"`, and
// keeps only bound methods, so the field cannot be reached. Every request goes through the
// global fetch(), so the test installs a fetch that sends https://api.solapi.com/... to the
// simulator (and refuses any other host: the test never reaches the internet), and keeps each
// raw answer text: the schemas below judge that raw JSON, not what the SDK made of it.

const exchanges = [];

function routeFetchTo(base) {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input.url;
    if (!url.startsWith(`${SDK_BASE_URL}/`))
      throw new Error(`contract: the SDK asked for ${url}, outside ${SDK_BASE_URL}`);
    const target = base + url.slice(SDK_BASE_URL.length);
    const res = await realFetch(target, init);
    const text = await res.clone().text();
    exchanges.push({ method: init.method || 'GET', path: url.slice(SDK_BASE_URL.length),
      status: res.status, text, requestBody: init.body });
    return res;
  };
}

// Runs one SDK call; returns its value or error and the raw last HTTP exchange it made.
async function call(fn) {
  const mark = exchanges.length;
  let value;
  let error;
  try {
    value = await fn();
  } catch (e) {
    error = e;
  }
  const mine = exchanges.slice(mark);
  const ex = mine.length ? mine[mine.length - 1] : null;
  let raw;
  if (ex) {
    try {
      raw = JSON.parse(ex.text);
    } catch {
      raw = undefined;
    }
  }
  return { value, error, ex, raw, requests: mine.length };
}

function errText(e) {
  if (!e) return '';
  const code = e.errorCode ? `${e.errorCode}: ` : '';
  const msg = e.errorMessage || e.message || String(e);
  const issues = Array.isArray(e.validationErrors) ? ` [${e.validationErrors.slice(0, 8).join('; ')}]` : '';
  return `${e._tag || e.name || 'Error'} ${code}${msg}${issues}`.replace(/\s+/g, ' ');
}

// Judges one SDK call that must answer 200 with JSON: fails the check (and returns null) otherwise.
function judge(name, r) {
  if (!r.ex) {
    fail(name, `no HTTP request was made: ${errText(r.error)}`);
    return null;
  }
  const where = `${r.ex.method} ${r.ex.path.split('?')[0]}`;
  if (r.ex.status !== 200 || r.raw === undefined) {
    fail(name, `${where} answered HTTP ${r.ex.status}: ${r.ex.text.slice(0, 300)}`);
    return null;
  }
  if (r.error) {
    fail(name, `${where} answered 200 but the SDK call failed: ${errText(r.error)}`);
    return r;
  }
  pass(name, `${where} -> 200`);
  return r;
}

async function mustCall(name, fn) {
  return judge(name, await call(fn));
}

// Endpoints the fleet does not use: a 404 from the simulator is reported, not failed.
async function optionalCall(name, fn) {
  const r = await call(fn);
  if (r.ex && r.ex.status === 404) {
    console.log(`skip  ${name}: ${r.ex.method} ${r.ex.path.split('?')[0]} is not implemented ` +
      'by the simulator (404); checked once it is');
    return null;
  }
  return judge(name, r);
}

function expectErrorBody(name, r, codes, httpStatus) {
  if (!r.ex) return fail(name, `no HTTP request was made: ${errText(r.error)}`);
  const body = r.raw;
  const problems = [];
  if (httpStatus && r.ex.status !== httpStatus) problems.push(`HTTP ${r.ex.status}, want ${httpStatus}`);
  if (!httpStatus && (r.ex.status < 400 || r.ex.status >= 500)) problems.push(`HTTP ${r.ex.status}, want 4xx`);
  if (!sdk.isErrorResponse(body) || typeof body.errorCode !== 'string' || typeof body.errorMessage !== 'string')
    problems.push(`body is not {errorCode, errorMessage}: ${r.ex.text.slice(0, 200)}`);
  else if (codes && !codes.includes(body.errorCode))
    problems.push(`errorCode ${body.errorCode}, want ${codes.join(' or ')}`);
  if (!r.error) problems.push('the SDK call did not fail');
  else if (body && r.error.errorCode !== body.errorCode)
    problems.push(`the SDK raised ${errText(r.error)}`);
  if (problems.length) return fail(name, problems);
  return pass(name, `HTTP ${r.ex.status} ${body.errorCode}`);
}

// ------------------------------------------------------------------ live checks

function sms(to, jobId, extra = {}) {
  return { to, from: SENDER, text: `[계약] ${jobId} 안내 문자입니다`, customFields: { jobId }, ...extra };
}

async function live(a) {
  const apiKey = `NCSCONTRACT${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
  const apiSecret = crypto.randomBytes(24).toString('hex');
  // The simulator captures the SDK's own requests: the request checks must accept them all,
  // which keeps those checks honest for the request kinds the fleet does not send yet.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mf-contract-'));
  const own = path.join(tmp, 'sdk-requests.jsonl');
  const sim = startSimulator(a.sim, apiKey, apiSecret, own);
  try {
    const port = await sim.port;
    const base = `http://127.0.0.1:${port}`;
    console.log(`contract: simulator ${a.sim} on ${base}; solapi ${sdk.sdkVersion}`);
    const seeded = await fetch(`${base}/_sim/black`, { method: 'POST',
      body: JSON.stringify({ numbers: BLACK_NUMBERS }) });
    if (seeded.status !== 200) fail('seed the 080 opt-out list', `POST /_sim/black: HTTP ${seeded.status}`);
    routeFetchTo(base);
    const svc = new sdk.SolapiMessageService(apiKey, apiSecret);
    await liveChecks(svc, apiKey, apiSecret);
  } catch (e) {
    fail('simulator', e.message);
  } finally {
    await sim.stop();
  }
  if (fs.existsSync(own)) await checkCapture(own, 'the SDK\'s own');
  else fail('capture of the SDK\'s own requests', `the simulator wrote no ${own} (capture_file knob)`);
  fs.rmSync(tmp, { recursive: true, force: true });
  if (failed > 0 && sim.stderr()) {
    const tail = sim.stderr().trim().split('\n').slice(-5);
    console.log('contract: last simulator log lines:');
    for (const l of tail) console.log(`  ${l}`);
  }
}

async function liveChecks(svc, apiKey, apiSecret) {
  const run = crypto.randomBytes(3).toString('hex');
  const job = (n) => `contract-${run}-${n}`;

  // --- send-many/detail (SolapiMessageService.send)
  const long = '안내: '.padEnd(60, '가');
  let r = await mustCall('send (send-many/detail, showMessageList)', () => svc.send([
    sms('01090000001', job(1)),
    sms('01090000002', job(2), { type: 'LMS', subject: '계약 시험', text: long, autoTypeDetect: false }),
    sms('01012', job(3)), // too short: a registration failure in failedMessageList
  ], { showMessageList: true, allowDuplicates: false }));
  const sent = [];
  if (r) {
    const v = checkAnswer('send-many/detail answer', 'detailGroupMessageResponseSchema', r.raw);
    const raw = r.raw || {};
    const list = Array.isArray(raw.messageList) ? raw.messageList : [];
    const failedList = Array.isArray(raw.failedMessageList) ? raw.failedMessageList : [];
    for (const m of list) if (m && m.messageId) sent.push(m.messageId);
    expect('send: 2 accepted in messageList, 1 in failedMessageList', list.length === 2 && failedList.length === 1,
      `messageList ${list.length}, failedMessageList ${failedList.length}`);
    expect('send: customFields echoed in messageList',
      list.every((m) => m.customFields && typeof m.customFields.jobId === 'string'),
      `messageList customFields: ${JSON.stringify(list.map((m) => m.customFields))}`);
    if (v) expect('send: groupInfo.groupId is a G4V id', /^G4V/.test(v.groupInfo.groupId), `groupId ${v.groupInfo.groupId}`);
  }
  const sendGroupId = r && r.raw && r.raw.groupInfo ? r.raw.groupInfo.groupId : undefined;

  // --- list (SolapiMessageService.getMessages)
  if (sendGroupId) {
    r = await mustCall('getMessages by groupId', () => svc.getMessages({ groupId: sendGroupId }));
    if (r) {
      checkAnswer('list answer (groupId)', 'getMessagesResponseSchema', r.raw);
      const ids = Object.keys((r.raw && r.raw.messageList) || {});
      expect('getMessages by groupId: the 2 accepted messages', sent.length === 2 && sent.every((id) => ids.includes(id)),
        `listed ${JSON.stringify(ids)}, sent ${JSON.stringify(sent)}`);
    }
  }
  if (sent.length) {
    r = await mustCall('getMessages by messageId', () => svc.getMessages({ messageId: sent[0] }));
    if (r) checkAnswer('list answer (messageId)', 'getMessagesResponseSchema', r.raw);
    r = await mustCall('getMessages by messageIds, limit 1', () => svc.getMessages({ messageIds: sent, limit: 1 }));
    if (r) {
      const v = checkAnswer('list answer (page 1 of 2)', 'getMessagesResponseSchema', r.raw);
      if (v && expect('getMessages paging: nextKey on page 1', typeof v.nextKey === 'string' && v.nextKey !== '',
        `nextKey ${JSON.stringify(v.nextKey)}`)) {
        r = await mustCall('getMessages page 2 (startKey = nextKey)',
          () => svc.getMessages({ messageIds: sent, limit: 1, startKey: v.nextKey }));
        if (r) checkAnswer('list answer (page 2 of 2)', 'getMessagesResponseSchema', r.raw);
      }
    }
  }
  r = await mustCall('getMessages with a date window', () => svc.getMessages({
    startDate: new Date(Date.now() - 3600e3), endDate: new Date(Date.now() + 3600e3), limit: 5,
  }));
  if (r) checkAnswer('list answer (date window)', 'getMessagesResponseSchema', r.raw);

  // --- groups: create, add, get, messages, send, send again, get
  r = await mustCall('createGroup', () => svc.createGroup(false, undefined, { batch: `contract-${run}` }));
  let groupId;
  if (r) {
    // createGroup returns only groupId; the real API answers the whole group object.
    const v = checkAnswer('create group answer', 'groupMessageResponseSchema', r.raw);
    groupId = r.value;
    expect('createGroup: the SDK returns the groupId', typeof groupId === 'string' && /^G4V/.test(groupId),
      `returned ${JSON.stringify(groupId)}`);
    if (v) expect('create group: status PENDING', v.status === 'PENDING', `status ${v.status}`);
  }
  if (groupId) {
    r = await mustCall('addMessagesToGroup', () => svc.addMessagesToGroup(groupId, [
      sms('01090000011', job(11)),
      sms('01090000012', job(12)),
      sms('01090000011', job(13)), // the same recipient again: 1026 with allowDuplicates false
      sms('01012', job(14)),
    ]));
    if (r) {
      const v = checkAnswer('add messages answer', 'addMessageResponseSchema', r.raw);
      if (v) {
        const dup = v.resultList.filter((x) => x.to === '01090000011' && x.statusCode === '1026');
        expect('add messages: the repeated recipient gets 1026 (allowDuplicates false)', dup.length === 1,
          `results for 01090000011: ${JSON.stringify(v.resultList.filter((x) => x.to === '01090000011'))}`);
      }
    }
    r = await mustCall('getGroup (before send)', () => svc.getGroup(groupId));
    if (r) {
      const v = checkAnswer('group answer (PENDING)', 'groupMessageResponseSchema', r.raw);
      if (v) expect('getGroup: PENDING before send', v.status === 'PENDING', `status ${v.status}`);
    }
    r = await mustCall('getGroupMessages', () => svc.getGroupMessages(groupId, { limit: 20 }));
    if (r) {
      const v = checkAnswer('group messages answer', 'getMessagesResponseSchema', r.raw);
      if (v) {
        const jobs = Object.values(v.messageList).map((m) => m.customFields && m.customFields.jobId);
        expect('getGroupMessages: messages carry their customFields', jobs.includes(job(11)) && jobs.includes(job(12)),
          `jobIds listed: ${JSON.stringify(jobs)}`);
      }
    }
    r = await mustCall('sendGroup', () => svc.sendGroup(groupId));
    if (r) {
      const v = checkAnswer('send group answer', 'groupMessageResponseSchema', r.raw);
      if (v) expect('sendGroup: no longer PENDING', v.status !== 'PENDING', `status ${v.status}`);
    }
    r = await call(() => svc.sendGroup(groupId));
    expectErrorBody('sendGroup again is refused', r, ['GroupInProcessing', 'AlreadySent', 'InvalidStatus']);
    r = await mustCall('getGroup (after send)', () => svc.getGroup(groupId));
    if (r) {
      const v = checkAnswer('group answer (sent)', 'groupMessageResponseSchema', r.raw);
      if (v) expect('getGroup: SENDING or COMPLETE after send', ['SENDING', 'COMPLETE'].includes(v.status), `status ${v.status}`);
    }
    r = await mustCall('getGroupMessages (after send)', () => svc.getGroupMessages(groupId));
    if (r) checkAnswer('group messages answer (sent)', 'getMessagesResponseSchema', r.raw);
    r = await mustCall('getMessages by the group\'s groupId', () => svc.getMessages({ groupId }));
    if (r) {
      const v = checkAnswer('list answer (group)', 'getMessagesResponseSchema', r.raw);
      if (v) {
        const jobs = Object.values(v.messageList).map((m) => m.customFields && m.customFields.jobId);
        expect('getMessages by groupId: lists the group\'s messages', jobs.includes(job(11)) && jobs.includes(job(12)),
          `jobIds listed: ${JSON.stringify(jobs)}`);
      }
    }
  }

  // --- the 080 opt-out list (SolapiMessageService.getBlacks), 3 numbers in pages of 2
  r = await mustCall('getBlacks, limit 2', () => svc.getBlacks({ limit: 2 }));
  if (r) {
    const v = checkAnswer('080 opt-out list answer (page 1 of 2)', 'getBlacksResponseSchema', r.raw);
    if (v && expect('getBlacks page 1: 2 numbers and a nextKey',
      v.blackList.length === 2 && typeof v.nextKey === 'string' && v.nextKey !== '',
      `blackList ${v.blackList.length}, nextKey ${v.nextKey}`)) {
      r = await mustCall('getBlacks page 2 (startKey = nextKey)',
        () => svc.getBlacks({ limit: 2, startKey: v.nextKey }));
      const v2 = r ? checkAnswer('080 opt-out list answer (page 2 of 2)', 'getBlacksResponseSchema', r.raw) : null;
      if (v2) {
        const got = v.blackList.concat(v2.blackList).map((b) => b.recipientNumber);
        expect('getBlacks: the 3 seeded numbers, then no nextKey',
          JSON.stringify(got) === JSON.stringify(BLACK_NUMBERS) && !v2.nextKey,
          `numbers ${JSON.stringify(got)}, nextKey ${v2.nextKey}`);
      }
    }
  }

  // --- endpoints the fleet does not use: checked when the simulator has them
  r = await optionalCall('getGroups', () => svc.getGroups({ limit: 5 }));
  if (r && r.ex && r.ex.status === 200) checkAnswer('group list answer', 'getGroupsResponseSchema', r.raw);
  const g2 = await call(() => svc.createGroup(true));
  if (g2.value && typeof g2.value === 'string') {
    const add = await call(() => svc.addMessagesToGroup(g2.value, [sms('01090000021', job(21))]));
    const mid = add.raw && Array.isArray(add.raw.resultList) && add.raw.resultList[0]
      ? add.raw.resultList[0].messageId : undefined;
    if (mid) {
      r = await optionalCall('removeGroupMessages', () => svc.removeGroupMessages(g2.value, [mid]));
      if (r && r.ex && r.ex.status === 200) checkAnswer('remove group messages answer', 'removeGroupMessagesResponseSchema', r.raw);
    }
    r = await optionalCall('removeGroup (PENDING group)', () => svc.removeGroup(g2.value));
    if (r && r.ex && r.ex.status === 200) checkAnswer('remove group answer', 'groupMessageResponseSchema', r.raw);
  }

  // --- authentication failures, as the SDK reports them
  const wrongSecret = new sdk.SolapiMessageService(apiKey, `${apiSecret}x`);
  r = await call(() => wrongSecret.getMessages({ limit: 1 }));
  expectErrorBody('wrong secret: 403 SignatureDoesNotMatch', r, ['SignatureDoesNotMatch'], 403);
  const wrongKey = new sdk.SolapiMessageService(`${apiKey}X`, apiSecret);
  r = await call(() => wrongKey.getMessages({ limit: 1 }));
  expectErrorBody('unknown key: 403 InvalidAPIKey', r, ['InvalidAPIKey'], 403);
}

// ------------------------------------------------------------------ captured fleet requests

// The list query as the SDK's getMessagesRequestSchema sees it: repeated keys and
// `messageIds[]` become arrays, limit a number.
function queryObject(search) {
  const q = {};
  for (const [k0, v] of new URLSearchParams(search)) {
    const k = k0.endsWith('[]') ? k0.slice(0, -2) : k0;
    if (k === 'messageIds') (q[k] = q[k] || []).push(...v.split(','));
    else if (k in q) q[k] = [].concat(q[k], v);
    else q[k] = k === 'limit' && /^\d+$/.test(v) ? Number(v) : v;
  }
  return q;
}

const GROUP_RE = /^\/messages\/v4\/groups\/([^/?]+)/;

function classify(method, p) {
  const [pathname, search = ''] = p.split('?');
  if (method === 'POST' && pathname === '/messages/v4/send-many/detail') return { kind: 'send-many/detail' };
  if (method === 'POST' && /^\/messages\/v4\/groups\/?$/.test(pathname)) return { kind: 'create group' };
  if (method === 'PUT' && /^\/messages\/v4\/groups\/[^/]+\/messages$/.test(pathname)) return { kind: 'add messages' };
  if (method === 'POST' && /^\/messages\/v4\/groups\/[^/]+\/send$/.test(pathname)) return { kind: 'send group' };
  if (method === 'GET' && pathname === '/messages/v4/list') return { kind: 'list query', search };
  if (method === 'GET' && /^\/messages\/v4\/groups\/[^/]+\/messages$/.test(pathname)) return { kind: 'group messages query', search };
  if (method === 'GET' && GROUP_RE.test(pathname)) return { kind: 'get group', search };
  if (method === 'GET' && /^\/messages\/v4\/groups\/?$/.test(pathname)) return { kind: 'group list query', search };
  if (method === 'DELETE' && /^\/messages\/v4\/groups\/[^/]+\/messages$/.test(pathname)) return { kind: 'remove group messages' };
  if (method === 'DELETE' && /^\/messages\/v4\/groups\/[^/]+$/.test(pathname)) return { kind: 'remove group' };
  return { kind: 'other' };
}

// Each check returns a list of problems (strings) for one captured request.
const VALIDATORS = {
  'send-many/detail': (body) => {
    const r = decode(sdk.multipleMessageSendingRequestSchema, body, 'error');
    return { problems: r.ok ? [] : foldIssues(r.issues, 'fleet request'),
      messages: Array.isArray(body && body.messages) ? body.messages.length : 0,
      schema: 'multipleMessageSendingRequestSchema' };
  },
  'create group': (body) => {
    const r = decode(sdk.createGroupRequestSchema, body, 'error');
    return { problems: r.ok ? [] : foldIssues(r.issues, 'fleet request'), messages: 0, schema: 'createGroupRequestSchema' };
  },
  'add messages': (body) => {
    const problems = [];
    const r1 = decode(sdk.groupMessageAddRequestSchema, body, 'error');
    if (!r1.ok) problems.push(...foldIssues(r1.issues, 'fleet request'));
    // what addMessagesToGroup itself validates the messages with
    const msgs = body && body.messages;
    const r2 = decode(sdk.requestSendMessageSchema, msgs, 'error');
    if (!r2.ok) problems.push(...foldIssues(r2.issues, 'fleet request').map((l) => `messages: ${l}`));
    return { problems, messages: Array.isArray(msgs) ? msgs.length : 0,
      schema: 'groupMessageAddRequestSchema + requestSendMessageSchema' };
  },
  'send group': (body) => ({
    // the SDK's sendGroup sends no body
    problems: body === undefined || body === null || body === '' ||
      (typeof body === 'object' && Object.keys(body).length === 0) ? [] : [`a body the SDK never sends: ${JSON.stringify(body).slice(0, 200)}`],
    messages: 0, schema: 'no body',
  }),
  'remove group messages': (body) => {
    const r = decode(sdk.removeMessageIdsToGroupRequestSchema, body, 'error');
    return { problems: r.ok ? [] : foldIssues(r.issues, 'fleet request'), messages: 0,
      schema: 'removeMessageIdsToGroupRequestSchema' };
  },
  'remove group': (body) => ({
    problems: body === undefined || body === null || body === '' ||
      (typeof body === 'object' && Object.keys(body).length === 0) ? [] : [`a body the SDK never sends: ${JSON.stringify(body).slice(0, 200)}`],
    messages: 0, schema: 'no body',
  }),
  'list query': (_body, c) => {
    const r = decode(sdk.getMessagesRequestSchema, queryObject(c.search), 'error');
    return { problems: r.ok ? [] : foldIssues(r.issues, 'fleet request').map((l) => `query ${l}`),
      messages: 0, schema: 'getMessagesRequestSchema' };
  },
  'group messages query': (_body, c) => {
    const r = decode(sdk.getGroupMessagesRequestSchema, queryObject(c.search), 'error');
    return { problems: r.ok ? [] : foldIssues(r.issues, 'fleet request').map((l) => `query ${l}`),
      messages: 0, schema: 'getGroupMessagesRequestSchema' };
  },
  'get group': (_body, c) => ({
    problems: c.search ? [`a query the SDK's getGroup never sends: ?${c.search}`] : [], messages: 0, schema: 'no query',
  }),
  'group list query': (_body, c) => {
    const r = decode(sdk.getGroupsRequestSchema, queryObject(c.search), 'error');
    return { problems: r.ok ? [] : foldIssues(r.issues, 'fleet request').map((l) => `query ${l}`),
      messages: 0, schema: 'getGroupsRequestSchema' };
  },
};

async function checkCapture(file, whose = 'the fleet\'s') {
  if (!fs.existsSync(file)) return fail(`capture ${file}`, 'file does not exist');
  const kinds = new Map(); // kind -> {requests, messages, schema, bad: [{line, problems}]}
  let lineNo = 0;
  let unreadable = 0;
  let queriesSeen = false;
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === '') continue;
    let rec;
    try {
      rec = JSON.parse(line);
      if (typeof rec.body === 'string' && rec.body !== '') rec.body = JSON.parse(rec.body);
    } catch (e) {
      unreadable++;
      if (unreadable <= 3) fail(`capture ${path.basename(file)} line ${lineNo}`, `not JSON: ${e.message}`);
      continue;
    }
    const method = String(rec.method || '').toUpperCase();
    let p = String(rec.path || '');
    // the query string: in the path, or beside it as "query" (a string or an object)
    if (!p.includes('?') && rec.query !== undefined && rec.query !== null) {
      const q = typeof rec.query === 'string' ? rec.query.replace(/^\?/, '')
        : new URLSearchParams(Object.entries(rec.query).flatMap(([k, v]) =>
          (Array.isArray(v) ? v : [v]).map((x) => [k, String(x)]))).toString();
      if (q) p = `${p}?${q}`;
    }
    if (method === 'GET' && (p.includes('?') || rec.query !== undefined)) queriesSeen = true;
    const c = classify(method, p);
    const v = VALIDATORS[c.kind];
    const k = kinds.get(c.kind) || { requests: 0, messages: 0, schema: '', bad: [] };
    kinds.set(c.kind, k);
    k.requests++;
    if (!v) continue;
    const res = v(rec.body, c);
    k.messages += res.messages;
    k.schema = res.schema;
    if (res.problems.length) k.bad.push({ line: lineNo, what: `${method} ${p}`, problems: res.problems });
  }
  const base = path.basename(file);
  if (unreadable > 3) fail(`capture ${base}`, `${unreadable} lines are not JSON`);
  for (const [kind, k] of kinds) {
    if (!VALIDATORS[kind]) {
      console.log(`      note: capture ${base}: ${k.requests} ${kind} request(s) not checked`);
      continue;
    }
    const name = `${whose} ${kind} requests (${k.requests}${k.messages ? `, ${k.messages} messages` : ''}) vs ${k.schema}`;
    if (!k.bad.length) {
      pass(name);
      continue;
    }
    const lines = [`${k.bad.length} of ${k.requests} requests refused`];
    for (const b of k.bad.slice(0, 3)) {
      lines.push(`${base}:${b.line} ${b.what.slice(0, 120)}`);
      for (const p of b.problems.slice(0, 8)) lines.push(`  ${p}`);
    }
    fail(name, lines);
  }
  const gets = ['list query', 'group messages query', 'group list query']
    .reduce((n, kind) => n + (kinds.get(kind) || { requests: 0 }).requests, 0);
  if (gets > 0 && !queriesSeen)
    note(`capture ${base}: no GET request carries a query string (the capture has the path ` +
      'only), so the query parameters could not be checked');
  const sends = (kinds.get('send-many/detail') || { requests: 0 }).requests + (kinds.get('add messages') || { requests: 0 }).requests;
  expect(`capture ${base} holds ${whose} send requests`, sends > 0,
    `no send-many/detail or add-messages request in ${file} (${lineNo} lines)`, `${sends} requests`);
}

// ------------------------------------------------------------------ main

async function main() {
  const a = parseArgs(process.argv.slice(2));
  verbose = a.verbose;
  if (a.live) await live(a);
  for (const f of a.captures) await checkCapture(f);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
}

main().catch((e) => {
  console.log(`FAIL  contract: ${e && e.stack ? e.stack : e}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});

// Drives a running sfsim with jsforce, a real Salesforce client, and exits non-zero on the
// first mismatch. Usage: SFSIM_INFO='<the JSON line sfsim printed>' node check.mjs
import jsforce from 'jsforce';
// jsforce 3 keeps the streaming extensions (Replay, AuthFailure) in its streaming module.
import { StreamingExtension } from 'jsforce/lib/api/streaming.js';
import assert from 'node:assert/strict';

const info = JSON.parse(process.env.SFSIM_INFO ?? '');
const redirectUri = 'http://localhost:1717/OauthRedirect';
const version = '59.0';

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e?.stack ?? e}`);
    process.exit(1);
  }
}

let conn;

await step('oauth web-server flow with PKCE against the authorize page', async () => {
  const oauth2 = new jsforce.OAuth2({
    loginUrl: info.login_url,
    clientId: info.client_id,
    clientSecret: info.client_secret,
    redirectUri,
    useVerifier: true,
  });
  const authUrl = oauth2.getAuthorizationUrl({ scope: 'api refresh_token', state: 'jsforce-check' });
  const page = await fetch(authUrl);
  assert.equal(page.status, 200);
  const html = await page.text();
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
    form.set(m[1], m[2].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
  }
  form.set('action', 'allow');
  const action = new URL('/services/oauth2/authorize', info.login_url);
  const res = await fetch(action, { method: 'POST', body: form, redirect: 'manual' });
  assert.equal(res.status, 302);
  const location = new URL(res.headers.get('location'));
  assert.equal(location.searchParams.get('state'), 'jsforce-check');
  const code = location.searchParams.get('code');
  assert.ok(code, 'authorization code in the redirect');
  conn = new jsforce.Connection({ oauth2, version });
  const user = await conn.authorize(code);
  assert.equal(user.organizationId, info.org_id);
  assert.ok(conn.accessToken.startsWith(info.org_id.slice(0, 15) + '!'));
  assert.ok(conn.refreshToken, 'refresh token issued');
  assert.equal(conn.instanceUrl, info.instance_url);
});

await step('describeGlobal and describe', async () => {
  const g = await conn.describeGlobal();
  const names = g.sobjects.map((s) => s.name);
  for (const n of ['Account', 'Contact', 'Lead', 'Opportunity', 'Case', 'User', 'Invoice__c']) {
    assert.ok(names.includes(n), `describeGlobal lists ${n}`);
  }
  const d = await conn.sobject('Account').describe();
  assert.equal(d.name, 'Account');
  const name = d.fields.find((f) => f.name === 'Name');
  assert.equal(name.nillable, false);
  assert.equal(name.type, 'string');
  const street = d.fields.find((f) => f.name === 'BillingStreet');
  assert.equal(street.compoundFieldName, 'BillingAddress');
});

let created = [];
await step('collections create / update / destroy', async () => {
  const rets = await conn.sobject('Account').create([
    { Name: 'jsforce One', External_Id__c: 'JS-1' },
    { Name: 'jsforce Two', External_Id__c: 'JS-2' },
    { Name: 'jsforce Three', External_Id__c: 'JS-3' },
  ]);
  assert.equal(rets.length, 3);
  for (const r of rets) assert.ok(r.success, JSON.stringify(r));
  created = rets.map((r) => r.id);
  const bad = await conn.sobject('Account').create([{ Phone: '1' }], { allOrNone: false });
  assert.equal(bad[0].success, false);
  assert.equal(bad[0].errors[0].statusCode, 'REQUIRED_FIELD_MISSING');
  const upd = await conn.sobject('Account').update(created.map((Id, i) => ({ Id, NumberOfEmployees: 10 + i })));
  for (const r of upd) assert.ok(r.success, JSON.stringify(r));
  const rec = await conn.sobject('Account').retrieve(created[1]);
  assert.equal(rec.NumberOfEmployees, 11);
  const del = await conn.sobject('Account').destroy([created[2]]);
  assert.ok(del[0].success);
});

await step('query with autoFetch over several pages', async () => {
  const counters = async () => (await (await fetch(new URL('/__sim/counters', info.instance_url))).json()).by_kind.query ?? 0;
  const queriesBefore = await counters();
  const records = [];
  await new Promise((resolve, reject) => {
    conn
      .query('SELECT Id, Name, Owner.Name FROM Account ORDER BY Id')
      .on('record', (r) => records.push(r))
      .on('end', resolve)
      .on('error', reject)
      .run({ autoFetch: true, maxFetch: 100000, headers: { 'Sforce-Query-Options': 'batchSize=200' } });
  });
  assert.ok((await counters()) - queriesBefore >= 3, 'autoFetch followed nextRecordsUrl over 200-record pages');
  const count = await conn.query('SELECT COUNT() FROM Account');
  assert.equal(records.length, count.totalSize);
  assert.ok(records.length > 400, `expected several pages, got ${records.length}`);
  assert.ok(records[0].Owner.Name);
  const all = await conn.query('SELECT Id FROM Account WHERE IsDeleted = true', { scanAll: true });
  assert.equal(all.totalSize, 1);
});

await step('updated / deleted', async () => {
  const end = new Date(Date.now() + 120000);
  const start = new Date(Date.now() - 600000);
  const upd = await conn.sobject('Account').updated(start, end);
  for (const id of created.slice(0, 2)) assert.ok(upd.ids.includes(id), `updated lists ${id}`);
  const del = await conn.sobject('Account').deleted(start, end);
  assert.deepEqual(del.deletedRecords.map((d) => d.id), [created[2]]);
  assert.ok(del.earliestDateAvailable && del.latestDateCovered);
});

await step('limits', async () => {
  const l = await conn.limits();
  assert.ok(l.DailyApiRequests.Max > 0);
  assert.ok(l.DailyApiRequests.Remaining < l.DailyApiRequests.Max);
});

await step('bulk2 query', async () => {
  const stream = await conn.bulk2.query('SELECT Id, Name, BillingCity FROM Account', { pollInterval: 200, pollTimeout: 60000 });
  const rows = await stream.toArray();
  const count = await conn.query('SELECT COUNT() FROM Account');
  assert.equal(rows.length, count.totalSize);
  assert.ok(rows.every((r) => r.Id && r.Id.length === 18));
});

await step('bulk2 load', async () => {
  const res = await conn.bulk2.loadAndWaitForResults({
    object: 'Contact',
    operation: 'insert',
    input: 'FirstName,LastName,Email\nAda,Lovelace,ada@example.com\nGrace,,grace@example.com\nAlan,Turing,"alan@example.com"\n',
    pollInterval: 200,
    pollTimeout: 60000,
  });
  assert.equal(res.successfulResults.length, 2, JSON.stringify(res));
  assert.equal(res.failedResults.length, 1);
  assert.match(res.failedResults[0].sf__Error, /REQUIRED_FIELD_MISSING/);
  const q = await conn.query("SELECT Id FROM Contact WHERE LastName = 'Turing'");
  assert.equal(q.totalSize, 1);
});

await step('streaming: Change Data Capture events over CometD (faye), with the replay extension', async () => {
  const admin = (path, method, body) =>
    fetch(new URL(`/__sim/${path}`, info.instance_url), {
      method,
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
  assert.equal((await admin('cdc/entities/Account', 'POST')).status, 200);
  // Short long polls, so the check does not wait 110 s for a quiet poll to end.
  assert.equal((await admin('streaming', 'PUT', { poll_timeout_ms: 5000 })).status, 200);
  const channel = '/data/AccountChangeEvent';
  const created = await conn.sobject('Account').create({ Name: 'Streamed' });
  assert.ok(created.success);
  const within = (ms, what, p) =>
    Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`no ${what} within ${ms} ms`)), ms))]);

  // conn.streaming.topic(…).subscribe: new events only.
  const events = [];
  let wake = () => {};
  const sub = conn.streaming.topic(channel).subscribe((msg) => {
    events.push(msg);
    wake();
  });
  await within(10000, 'subscription', sub);
  const next = (pred) =>
    within(10000, 'change event', new Promise((resolve) => {
      const look = () => {
        const e = events.find(pred);
        if (e) resolve(e);
      };
      wake = look;
      look();
    }));
  const upd = await conn.sobject('Account').update({ Id: created.id, Phone: '555-0142' });
  assert.ok(upd.success);
  const ev = await next((m) => m.payload?.ChangeEventHeader?.changeType === 'UPDATE');
  const h = ev.payload.ChangeEventHeader;
  assert.equal(h.entityName, 'Account');
  assert.deepEqual(h.recordIds, [created.id]);
  assert.deepEqual([...h.changedFields].sort(), ['LastModifiedDate', 'Phone']);
  assert.equal(ev.payload.Phone, '555-0142');
  assert.ok(ev.event.replayId > 0);
  assert.ok(!events.some((m) => m.payload.ChangeEventHeader.changeType === 'CREATE'), 'no replay: new events only');
  sub.cancel();

  // createClient with StreamingExtension.Replay(-2): every retained event, the CREATE first.
  const replayed = [];
  const client = conn.streaming.createClient([new StreamingExtension.Replay(channel, -2)]);
  let done;
  const got = new Promise((r) => (done = r));
  const rsub = client.subscribe(channel, (msg) => {
    replayed.push(msg);
    if (replayed.length >= 2) done();
  });
  await within(10000, 'replay subscription', rsub);
  await within(10000, 'replayed events', got);
  const kinds = replayed.map((m) => m.payload.ChangeEventHeader.changeType);
  assert.deepEqual(kinds.slice(0, 2), ['CREATE', 'UPDATE']);
  assert.ok(replayed[0].event.replayId < replayed[1].event.replayId);

  // Salesforce forgets the client (403::Unknown client, advice: handshake): faye handshakes
  // again and the replay extension resubscribes after the last replay id it saw, so a change
  // made meanwhile still arrives, once.
  const forgot = await (await admin('streaming/clients/forget', 'POST')).json();
  assert.ok(forgot.forgotten >= 1, JSON.stringify(forgot));
  const upd2 = await conn.sobject('Account').update({ Id: created.id, Phone: '555-0143' });
  assert.ok(upd2.success);
  const seen = replayed.length;
  await within(15000, 'event after re-handshake', new Promise((resolve) => {
    const check = () => (replayed.length > seen ? resolve() : setTimeout(check, 50));
    check();
  }));
  const after = replayed.slice(seen);
  assert.equal(after.length, 1, JSON.stringify(after));
  assert.equal(after[0].payload.Phone, '555-0143');
  assert.ok(after[0].event.replayId > replayed[seen - 1].event.replayId);
  client.disconnect();

  const status = await (await admin('streaming', 'GET')).json();
  assert.ok(status.delivered >= 3, JSON.stringify(status));
});

await step('refresh an expired session', async () => {
  const adm = await fetch(new URL('/__sim/sessions/expire', info.instance_url), { method: 'POST' });
  assert.equal(adm.status, 204);
  const before = conn.accessToken;
  const l = await conn.limits();
  assert.ok(l.DailyApiRequests);
  assert.notEqual(conn.accessToken, before, 'jsforce refreshed the token after INVALID_SESSION_ID');
});

console.log('jsforce accepts sfsim');
// The streaming clients keep sockets open; the check is over.
process.exit(0);

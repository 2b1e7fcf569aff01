// Clerk's own SDK against the local Clerk emulator.
//
// Loads the pinned @clerk/clerk-js native build in Node, switches on native
// mode the way Clerk's Expo SDK does (`_is_native=1` and the client
// credential in `authorization` before each request, the rotated credential
// read from each response), and drives it through sign-in with a ticket,
// tokens, a second account, switching, listing and revoking another device,
// and sign-out. Every step is asserted, some against the emulator's own
// request log.
//
// EMULATOR_BIN: the clerk-emulator binary built with `test-controls`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const bin = process.env.EMULATOR_BIN ?? path.join(here, '../../target/debug/clerk-emulator');

// React Native has these; Node 20 lacks them (without `window`, `signOut()` throws; without `navigator`, clerk-js thinks it is offline and swallows network errors).
globalThis.window = globalThis;
globalThis.navigator = { onLine: true };

let emu; // { frontend_api_url, backend_api_url, publishable_key, secret_key }
let child;

before(async () => {
  child = spawn(bin, ['--port', '0', '--seed', 'demo', '--json', '--no-rate-limits'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  emu = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('emulator did not print its JSON line within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`emulator exited early (${code})`)));
    lines.once('line', (l) => { clearTimeout(t); resolve(JSON.parse(l)); });
  });
});

after(() => {
  child?.kill('SIGTERM');
  // clerk-js keeps timers alive; end the process once the tests are done.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref?.();
  setImmediate(() => process.exit(process.exitCode ?? 0));
});

const admin = { authorization: () => ({ authorization: `Bearer ${emu.secret_key}` }) };

async function bapi(method, p, body) {
  const res = await fetch(`${emu.backend_api_url}${p}`, {
    method,
    headers: { ...admin.authorization(), 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, `${method} ${p}: ${res.status}`);
  return res.json();
}

async function userId(email) {
  const users = await bapi('GET', `/v1/users?email_address=${encodeURIComponent(email)}`);
  assert.equal(users.length, 1);
  return users[0].id;
}

async function ticketFor(email) {
  const t = await bapi('POST', '/v1/sign_in_tokens', { user_id: await userId(email), expires_in_seconds: 300 });
  return t.token;
}

async function emulatorLog() {
  const res = await fetch(`${emu.frontend_api_url}/__emulator/requests`, { headers: admin.authorization() });
  assert.equal(res.status, 200, 'the emulator binary must be built with --features test-controls');
  return res.json();
}

// One "device": a fresh evaluation of the bundle (its state is module-global).
async function newDevice(credential = '') {
  const dist = path.dirname(require.resolve('@clerk/clerk-js'));
  for (const k of Object.keys(require.cache)) if (k.startsWith(dist)) delete require.cache[k];
  const { Clerk } = require(path.join(dist, 'clerk.native.js'));
  const clerk = new Clerk(emu.publishable_key);
  const device = { clerk, credential };
  const base = new URL(emu.frontend_api_url);
  clerk.__internal_onBeforeRequest((req) => {
    // clerk-js builds https://<host>/v1/…; the emulator is plain http on loopback.
    req.url.protocol = base.protocol;
    req.url.host = base.host;
    req.credentials = 'omit';
    req.url.searchParams.append('_is_native', '1');
    req.headers.set('authorization', device.credential);
  });
  clerk.__internal_onAfterResponse((_req, res) => {
    const a = res?.headers?.get('authorization');
    if (a !== null && a !== undefined) device.credential = a;
  });
  await clerk.load({ standardBrowser: false, telemetry: false, unsafe_disableDevelopmentModeConsoleWarning: true });
  return device;
}

function claims(jwt) {
  const [, payload] = jwt.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

async function signInWithTicket(clerk, email) {
  const si = await clerk.client.signIn.create({ strategy: 'ticket', ticket: await ticketFor(email) });
  assert.equal(si.status, 'complete');
  assert.match(si.createdSessionId, /^sess_/);
  await clerk.setActive({ session: si.createdSessionId });
  return si.createdSessionId;
}

test('clerk-js drives the emulator end to end', { timeout: 120_000 }, async (t) => {
  const { clerk } = await newDevice();
  assert.equal(clerk.loaded, true);
  assert.equal(clerk.session, null);

  const adaSid = await t.test('sign in with a ticket and get a token', async () => {
    const sid = await signInWithTicket(clerk, 'ada@example.com');
    assert.equal(clerk.session.id, sid);
    assert.equal(clerk.user.primaryEmailAddress.emailAddress, 'ada@example.com');
    const jwt = await clerk.session.getToken({ skipCache: true });
    const c = claims(jwt);
    assert.equal(c.sid, sid);
    assert.equal(c.sub, await userId('ada@example.com'));
    assert.equal(c.iss, emu.frontend_api_url);
    return sid;
  }).then(() => clerk.session.id);

  let graceSid;
  await t.test('add a second account', async () => {
    graceSid = await signInWithTicket(clerk, 'grace@example.com');
    assert.equal(clerk.session.id, graceSid);
    const signedIn = clerk.client.signedInSessions.map((s) => s.id).sort();
    assert.deepEqual(signedIn, [adaSid, graceSid].sort());
    const c = claims(await clerk.session.getToken({ skipCache: true }));
    assert.equal(c.sid, graceSid);
    assert.equal(c.sub, await userId('grace@example.com'));
  });

  await t.test('switch back with setActive', async () => {
    await clerk.setActive({ session: adaSid });
    assert.equal(clerk.session.id, adaSid);
    assert.equal(clerk.client.lastActiveSessionId, adaSid);
    const c = claims(await clerk.session.getToken({ skipCache: true }));
    assert.equal(c.sid, adaSid);
  });

  await t.test('list active devices and revoke another one', async () => {
    const sessions = await clerk.user.getSessions();
    const ids = sessions.map((s) => s.id);
    assert.ok(ids.includes(adaSid), 'this device is listed');
    const other = sessions.find((s) => s.id !== adaSid && s.latestActivity?.deviceType === 'iPhone');
    assert.ok(other, 'the seeded iPhone session is listed');
    assert.equal(other.latestActivity.city, 'Berlin');
    const revoked = await other.revoke();
    assert.equal(revoked.status, 'revoked');
    const after = (await clerk.user.getSessions()).map((s) => s.id);
    assert.ok(!after.includes(other.id), 'the revoked device is gone from the list');
    const server = await bapi('GET', `/v1/sessions/${other.id}`);
    assert.equal(server.status, 'revoked');
  });

  await t.test('sign out of everything on this client', async () => {
    await clerk.signOut();
    assert.equal(clerk.session, null);
    for (const sid of [adaSid, graceSid]) {
      const s = await bapi('GET', `/v1/sessions/${sid}`);
      assert.equal(s.status, 'removed', `${sid} removed on the server`);
    }
  });

  await t.test('every request was native: _is_native=1, no Origin, no cookies', async () => {
    const log = (await emulatorLog()).filter((r) => r.path.startsWith('/v1/') && !r.path.startsWith('/v1/users') && !r.path.startsWith('/v1/sign_in_tokens') && !r.path.startsWith('/v1/sessions'));
    assert.ok(log.length >= 10, `clerk-js made ${log.length} FAPI requests`);
    for (const r of log) {
      assert.match(r.query, /(^|&)_is_native=1(&|$)/, `${r.method} ${r.path}`);
      assert.equal(r.headers.origin, undefined);
      assert.equal(r.headers.cookie, undefined);
      assert.ok(r.status < 500, `${r.method} ${r.path} answered ${r.status}`);
    }
    assert.ok(log.some((r) => r.path === '/v1/client/sign_ins'), 'sign-in went through FAPI');
    assert.ok(log.some((r) => r.path.endsWith('/touch')), 'setActive touched the session');
    assert.ok(log.some((r) => r.path === '/v1/me/sessions/active'), 'getSessions listed devices');
    assert.ok(log.some((r) => r.path === '/v1/client/sessions' && /_method=DELETE/.test(r.query)), 'signOut deleted the sessions');
  });
});

test('a restored client keeps its session (two concurrent loads with one credential)', { timeout: 60_000 }, async () => {
  const first = await newDevice();
  const sid = await signInWithTicket(first.clerk, 'alan@example.com');
  const saved = first.credential;
  assert.ok(saved.length > 0, 'the SDK stored a credential from the Authorization header');

  // Fresh bundle, restored credential: load() reads client + environment
  // concurrently with the same credential.
  const second = await newDevice(saved);
  assert.equal(second.clerk.session?.id, sid);
  const c = claims(await second.clerk.session.getToken({ skipCache: true }));
  assert.equal(c.sid, sid);
});

// Clerk's own SDK against the local Clerk emulator.
//
// Loads the pinned @clerk/clerk-js native build in Node, switches on native
// mode the way Clerk's Expo SDK does (`_is_native=1` and the client
// credential in `authorization` before each request, the rotated credential
// read from each response), and drives it through sign-in with a ticket,
// tokens, a second account, switching, listing and revoking another device,
// and sign-out. Every step is asserted, some against the emulator's own
// request log. Then the behaviours real instances have, each on an emulator
// started with its flag: a single-session instance, a pending session
// (session tasks) finished by choosing an organization, and a
// reverification error.
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
const children = [];

/** Starts an emulator with `args` on a free port; its JSON line. */
async function startEmulator(args = []) {
  const child = spawn(bin, ['--port', '0', '--seed', 'demo', '--json', '--no-rate-limits', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('emulator did not print its JSON line within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`emulator exited early (${code})`)));
    lines.once('line', (l) => { clearTimeout(t); resolve(JSON.parse(l)); });
  });
}

before(async () => {
  emu = await startEmulator();
});

after(() => {
  for (const c of children) c.kill('SIGTERM');
  // clerk-js keeps timers alive; end the process once the tests are done.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref?.();
  setImmediate(() => process.exit(process.exitCode ?? 0));
});

async function bapi(method, p, body, on = emu) {
  const res = await fetch(`${on.backend_api_url}${p}`, {
    method,
    headers: { authorization: `Bearer ${on.secret_key}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, `${method} ${p}: ${res.status}`);
  return res.json();
}

async function userId(email, on = emu) {
  const users = await bapi('GET', `/v1/users?email_address=${encodeURIComponent(email)}`, undefined, on);
  assert.equal(users.length, 1);
  return users[0].id;
}

async function ticketFor(email, on = emu) {
  const t = await bapi('POST', '/v1/sign_in_tokens', { user_id: await userId(email, on), expires_in_seconds: 300 }, on);
  return t.token;
}

async function emulatorLog() {
  const res = await fetch(`${emu.frontend_api_url}/__emulator/requests`, { headers: { authorization: `Bearer ${emu.secret_key}` } });
  assert.equal(res.status, 200, 'the emulator binary must be built with --features test-controls');
  return res.json();
}

// One "device": a fresh evaluation of the bundle (its state is module-global).
async function newDevice(credential = '', on = emu) {
  const dist = path.dirname(require.resolve('@clerk/clerk-js'));
  for (const k of Object.keys(require.cache)) if (k.startsWith(dist)) delete require.cache[k];
  const { Clerk } = require(path.join(dist, 'clerk.native.js'));
  const clerk = new Clerk(on.publishable_key);
  const device = { clerk, credential };
  const base = new URL(on.frontend_api_url);
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

async function signInWithTicket(clerk, email, on = emu) {
  const si = await clerk.client.signIn.create({ strategy: 'ticket', ticket: await ticketFor(email, on) });
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

test('on a single-session instance clerk-js signs in one account per client', { timeout: 60_000 }, async () => {
  const single = await startEmulator(['--single-session']);
  const { clerk } = await newDevice('', single);
  assert.equal(clerk.__internal_environment.authConfig.singleSessionMode, true);
  const ada = await signInWithTicket(clerk, 'ada@example.com', single);
  await assert.rejects(
    clerk.client.signIn.create({ strategy: 'ticket', ticket: await ticketFor('grace@example.com', single) }),
    (e) => e.errors?.[0]?.code === 'session_exists',
    'a second account on the same client is session_exists',
  );
  assert.deepEqual(clerk.client.signedInSessions.map((s) => s.id), [ada]);
  // A second client (what Latchkey gives each further account) signs in.
  const other = await newDevice('', single);
  const grace = await signInWithTicket(other.clerk, 'grace@example.com', single);
  assert.equal(claims(await other.clerk.session.getToken({ skipCache: true })).sid, grace);
  assert.equal(claims(await clerk.session.getToken({ skipCache: true })).sid, ada);
});

test('clerk-js meets a pending session and finishes it by choosing an organization', { timeout: 60_000 }, async () => {
  const pending = await startEmulator(['--session-task', 'choose-organization']);
  const { clerk } = await newDevice('', pending);
  const si = await clerk.client.signIn.create({ strategy: 'ticket', ticket: await ticketFor('ada@example.com', pending) });
  assert.equal(si.status, 'complete');
  await clerk.setActive({ session: si.createdSessionId, navigate: async () => {} });
  assert.equal(clerk.session.status, 'pending');
  assert.equal(clerk.session.currentTask?.key, 'choose-organization');
  assert.deepEqual(clerk.client.signedInSessions.map((s) => s.id), [si.createdSessionId], 'pending counts as signed in');
  assert.equal(claims(await clerk.session.getToken({ skipCache: true })).sts, 'pending');
  await clerk.setActive({ session: si.createdSessionId, organization: 'analytical-engines', navigate: async () => {} });
  assert.equal(clerk.session.status, 'active');
  assert.equal(clerk.session.currentTask, undefined);
  assert.match(clerk.session.lastActiveOrganizationId ?? '', /^org_/);
  const c = claims(await clerk.session.getToken({ skipCache: true }));
  assert.equal(c.sts, 'active');
  assert.equal(c.o?.slg, 'analytical-engines');
});

test('clerk-js meets a reverification error as Clerk sends it', { timeout: 60_000 }, async () => {
  const strict = await startEmulator(['--reverification-minutes', '1']);
  const { clerk } = await newDevice('', strict);
  assert.equal(clerk.__internal_environment.authConfig.reverification, true);
  const ada = await signInWithTicket(clerk, 'ada@example.com', strict);
  const res = await fetch(`${strict.frontend_api_url}/__emulator/clock`, {
    method: 'POST',
    headers: { authorization: `Bearer ${strict.secret_key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ms: 2 * 60_000 + 5_000 }),
  });
  assert.equal(res.status, 200);
  const other = (await clerk.user.getSessions()).find((s) => s.id !== ada);
  assert.ok(other, 'another device to revoke');
  await assert.rejects(other.revoke(), (e) => {
    assert.equal(e.status, 403);
    assert.equal(e.errors?.[0]?.code, 'session_reverification_required');
    return true;
  });
  // clerk-js reads the factor age from the session as Clerk sends it.
  await clerk.session.reload?.();
  assert.equal(clerk.session.checkAuthorization({ reverification: { level: 'first_factor', afterMinutes: 1 } }), false);
  assert.equal(clerk.session.checkAuthorization({ reverification: { level: 'first_factor', afterMinutes: 10 } }), true);
  assert.equal((await bapi('GET', `/v1/sessions/${other.id}`, undefined, strict)).status, 'active');
});

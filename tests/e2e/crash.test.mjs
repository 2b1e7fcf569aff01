// The app's crash matrix: the app (a test build with crash points,
// `--features failpoints`; `make lint` keeps them out of the shipped app) is
// SIGKILLed at each named step of a sign-in, of the credential rotation a
// second sign-in causes, of a handoff into its quarantined client, and of a
// sign-out. Restarted, it reads a consistent state: every account listed is
// complete and active (0 partial accounts), no sign-in attempt or
// quarantine is left over (0 orphans), and no file holds a client
// credential (0 plaintext files). Each case has a world of its own (display,
// emulator, keychain service, data dir).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { World, waitFor, sleep, ui, root, cliBin as cli } from './harness.mjs';

const target = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const failApp = path.join(target, 'debug/latchkey-app-failpoints');

let n = 0;

/** A world of its own (display, emulator, keychain service, data dir and
 * XDG_DATA_HOME) whose app is the crash-point build; its socket lives in the
 * data dir, so "the app is up" is "its socket accepts". */
async function world() {
  const w = new World({ app: failApp, service: `dev.latchkey.desktop.e2e-crash-${++n}`, tokenLifetime: 60, ownDataHome: true });
  await w.start();
  w.noRuntimeDir();
  return w;
}

const signIn = async (w, email, password) => assert.equal(await w.signInByLaunch(email, password), 0);

/** One case: a world of its own, `emails` signed in by a clean app first
 * (which is then stopped), then `body(w)`; the world goes after. */
async function inWorld(emails, body) {
  const w = await world();
  try {
    const app = await w.startHidden(null);
    for (const [email, password] of emails) await signIn(w, email, password);
    // Signed in in full: every account listed and the last one made active
    // (the second launch hands the callback over and returns before that).
    const last = emails[emails.length - 1][0];
    await waitFor('the accounts signed in, the last one active', () => {
      const { accounts } = w.cliStatus();
      return accounts.length === emails.length && accounts.some((a) => a.email === last && a.active);
    });
    await w.stopHidden(app);
    return await body(w);
  } finally {
    await w.stop();
  }
}

const ADA = ['ada@example.com', 'analytical-engine'];
const GRACE = ['grace@example.com', 'cobol-1959'];

/** The state after the crash, read by a restarted app. */
async function afterRestart(w, point) {
  const app = await w.startHidden(null);
  // The restarted engine has read its accounts (and ended what a crash
  // left) once status answers the same twice.
  let s;
  await waitFor('a settled status', async () => {
    const a = JSON.stringify(w.cliStatus().accounts);
    await sleep(500);
    s = w.cliStatus();
    return a === JSON.stringify(s.accounts);
  });
  for (const a of s.accounts) {
    assert.ok(/^sess_/.test(a.session_id) && typeof a.email === 'string', `${point}: a partial account ${JSON.stringify(a)}`);
    assert.equal(a.status, 'active', `${point}: ${JSON.stringify(a)}`);
  }
  const text = spawnSync(cli, ['status'], { env: w.env, encoding: 'utf8', timeout: 30_000 }).stdout;
  assert.ok(!/sign-in in progress|waiting for your answer/i.test(text), `${point}: an attempt left over: ${text}`);
  await w.stopHidden(app);
  return s;
}

/** No file the app wrote holds a client credential it stored. */
function noPlaintext(w, point) {
  const { stored, files } = w.credentialsInFiles();
  assert.deepEqual(files, [], `${point}: a credential in a file`);
  return stored.length;
}

async function killedAt(p, point) {
  const { code, signal } = await Promise.race([
    p.exited,
    sleep(30_000).then(() => ({ code: 'timeout', signal: null })),
  ]);
  assert.equal(signal, 'SIGKILL', `${point}: the app was killed at its crash point (exit ${code})`);
}

const figures = [];

// (crash point, accounts a restart may find, what the case does)
const SIGN_IN = [
  ['sign-in:after-redeem', [0, 2]],
  ['sign-in:before-save', [0, 2]],
  ['sign-in:after-save', [2]],
  ['rotation:after-new-slot', [2]],
  ['rotation:after-index', [2]],
  ['rotation:after-delete-old', [2]],
];

test('the app killed at each step restarts into a consistent state', async (t) => {
  for (const [point, allowed] of SIGN_IN) {
    await t.test(point, () =>
      inWorld([ADA], async (w) => {
        // A second sign-in rotates the client's credential; the app dies at
        // the crash point on the way.
        const app = await w.startHidden(point);
        await signIn(w, ...GRACE).catch(() => {});
        await killedAt(app, point);
        const s = await afterRestart(w, point);
        assert.ok(allowed.includes(s.accounts.length), `${point}: ${s.accounts.length} accounts`);
        const creds = noPlaintext(w, point);
        figures.push(`${point}: ${s.accounts.length} accounts after restart, ${creds} credential(s) stored, 0 in files`);
      }),
    );
  }

  for (const point of ['handoff:after-redeem', 'handoff:after-quarantine-save']) {
    await t.test(point, () =>
      inWorld([ADA], async (w) => {
        const app = await w.startHidden(point);
        const link = await w.demoHandoffLink('grace@example.com');
        // Grace's sessions at Clerk before the link is used (the demo web
        // app's own).
        const grace = await w.userId('grace@example.com');
        const active = async () => (await w.bapi('GET', `/v1/sessions?user_id=${grace}&status=active`)).length;
        const baseline = await active();
        await w.secondLaunch([link]);
        await killedAt(app, point);
        const s = await afterRestart(w, point);
        // The link's account was never accepted: it is not added.
        assert.deepEqual(s.accounts.map((a) => a.email), ['ada@example.com'], point);
        // The quarantined client's session: ended at Clerk by the restart
        // when its credential was saved before the kill; when the kill came
        // between Clerk's answer and that save, nobody holds its credential
        // and it stays until Clerk expires it (reported).
        let orphans = (await active()) - baseline;
        if (point === 'handoff:after-quarantine-save') {
          await w.startHidden(null).then(async (again) => {
            await waitFor('the quarantine ended at Clerk', async () => (await active()) === baseline, 20_000);
            await w.stopHidden(again);
          });
          orphans = (await active()) - baseline;
          assert.equal(orphans, 0, point);
        }
        const creds = noPlaintext(w, point);
        figures.push(`${point}: ${s.accounts.length} account after restart (the link's not added), ${orphans} session(s) of the link left active at Clerk, ${creds} credential(s) stored, 0 in files`);
      }),
    );
  }

  for (const point of ['sign-out:after-remove', 'sign-out:after-save']) {
    await t.test(point, () =>
      inWorld([ADA, GRACE], async (w) => {
        // Sign out of the active account (Grace) in the window.
        const s = await w.openApp({ LATCHKEY_FAILPOINT: point, XDG_RUNTIME_DIR: '' });
        const { headerName, menuItem } = ui(w, () => s);
        await waitFor('Grace active', async () => (await headerName()) === 'Grace Hopper', 30_000);
        await menuItem('Sign out ▾', 'Sign out of Grace Hopper');
        await s.execute(
          "for (const b of document.querySelectorAll('[role=dialog] button, dialog button')) if (b.textContent.trim() === 'Sign out') { b.click(); return true; } return false;",
        );
        await waitFor('the app killed at its crash point', () => appPid(w) === null, 30_000);
        await w.session?.quit().catch(() => {});
        w.session = undefined;
        await w.closeApp().catch(() => {});
        const after = await afterRestart(w, point);
        const emails = after.accounts.map((a) => a.email).sort();
        // Clerk ended Grace's session before the kill: she is gone after the
        // restart (noticed, never kept as signed in), Ada is untouched.
        assert.deepEqual(emails, ['ada@example.com'], `${point}: ${emails}`);
        const creds = noPlaintext(w, point);
        figures.push(`${point}: ${after.accounts.length} account after restart (the signed-out one gone, the other kept), ${creds} credential(s) stored, 0 in files`);
      }),
    );
  }

  console.log(`crash matrix (the app, SIGKILL at ${figures.length} steps):\n${figures.map((f) => `  ${f}`).join('\n')}`);
});

/** The pid of this world's running app (the crash-point build), if any. */
function appPid(w) {
  try {
    return execFileSync('pgrep', ['-f', `^${w.app}`], { encoding: 'utf8' }).trim().split('\n')[0] || null;
  } catch {
    return null;
  }
}

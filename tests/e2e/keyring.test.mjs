// A locked keyring, in the real window over the real Secret Service: the
// accounts show as "locked in your keyring" (not "No accounts yet"), the
// Unlock button brings up the desktop's own password prompt (gcr-prompter,
// answered with the keyboard as a user would), and the accounts load
// without a restart.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { World, waitFor, sleep, ui, outDir } from './harness.mjs';

const w = new World({ service: 'dev.latchkey.desktop.e2e-keyring', ownKeyring: true });
let s;
const LOGIN = '/org/freedesktop/secrets/collection/login';

function gdbus(method, ...args) {
  return execFileSync(
    'gdbus',
    ['call', '--session', '--dest', 'org.freedesktop.secrets', '--object-path', '/org/freedesktop/secrets', '--method', method, ...args],
    { env: w.env, encoding: 'utf8' },
  );
}
const lockKeyring = () => gdbus('org.freedesktop.Secret.Service.Lock', `['${LOGIN}']`);
const isLocked = () =>
  execFileSync(
    'gdbus',
    ['call', '--session', '--dest', 'org.freedesktop.secrets', '--object-path', LOGIN, '--method', 'org.freedesktop.DBus.Properties.Get', 'org.freedesktop.Secret.Collection', 'Locked'],
    { env: w.env, encoding: 'utf8' },
  ).includes('true');

before(async () => {
  await w.start();
});

after(async () => {
  await w.stop();
});

const { seeText, noText, click, headerName, signIn } = ui(w, () => s);

/** Types the keyring password into the desktop's unlock prompt. */
async function unlockThroughPrompt({ shot } = {}) {
  const run = (args) => execFileSync('xdotool', args, { env: w.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const id = await waitFor(
    "the keyring's unlock prompt",
    () => {
      try {
        return run(['search', '--onlyvisible', '--class', 'gcr-prompter']).split('\n')[0] || null;
      } catch {
        return null;
      }
    },
    30_000,
  );
  run(['windowfocus', '--sync', id]);
  await sleep(300);
  let file;
  if (shot) {
    file = path.join(outDir, 'screenshots', `${shot}.png`);
    execFileSync('import', ['-window', 'root', file], { env: w.env });
  }
  run(['type', '--delay', '20', w.keyringPassword]);
  run(['key', 'Return']);
  await waitFor('the keyring unlocked', () => !isLocked(), 20_000);
  return file;
}

test('a locked keyring', async (t) => {
  await t.test('signed in and saved', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    await signIn('ada@example.com', 'analytical-engine', async (url) => {
      assert.equal(await w.secondLaunch([url]), 0);
    });
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace');
    await w.closeApp();
  });

  await t.test('started with the keyring locked: the accounts are locked, not gone', async () => {
    lockKeyring();
    assert.ok(isLocked(), 'the keyring is locked');
    s = await w.openApp();
    await seeText('Your accounts are locked in your keyring', 30_000);
    await seeText('Locked in your keyring');
    const text = await s.text();
    assert.ok(!text.includes('No accounts yet'), text);
    assert.ok(!text.includes('Signed out'), 'listed as locked, not signed out');
    assert.ok(text.includes('Keyring locked'), 'the status bar says so');
    await sleep(1000);
    assert.ok(!w.notifications().includes('was signed out'), 'no sign-out announced');
    await w.shot(s, 'app-keyring-locked');
  });

  await t.test('Unlock asks the desktop; the accounts load without a restart', async () => {
    await click('Unlock');
    await seeText('Waiting for your keyring');
    await unlockThroughPrompt({ shot: 'keyring-unlock-prompt' });
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 20_000);
    await noText('locked in your keyring');
    assert.ok((await s.text()).includes('Secure storage: Secret Service'));
  });

  await t.test('a dismissed prompt says so and changes nothing', async () => {
    await w.closeApp();
    lockKeyring();
    s = await w.openApp();
    await seeText('Your accounts are locked in your keyring', 30_000);
    await click('Unlock');
    const run = (args) => execFileSync('xdotool', args, { env: w.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const id = await waitFor("the keyring's unlock prompt", () => {
      try {
        return run(['search', '--onlyvisible', '--class', 'gcr-prompter']).split('\n')[0] || null;
      } catch {
        return null;
      }
    }, 30_000);
    run(['windowfocus', '--sync', id]);
    await sleep(300);
    run(['key', 'Escape']);
    await seeText('prompt was dismissed', 20_000);
    assert.ok(isLocked(), 'still locked');
    await seeText('Your accounts are locked in your keyring');
    // Asked again, the prompt comes back; answered, the accounts appear.
    await click('Unlock');
    await unlockThroughPrompt();
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 20_000);
  });

  await t.test('no Secret Service at all: a sign-in completes for this run, labelled so', async () => {
    await w.closeApp();
    // A session bus with nothing on it: no keyring to find or to start.
    const bus = { DBUS_SESSION_BUS_ADDRESS: await w.emptyBus() };
    s = await w.openApp(bus);
    await seeText('No secure storage: sign-ins last until you quit', 30_000);
    // Ada, saved last run, waits for a keyring; another account can sign in.
    await seeText('Waiting for secure storage');
    await click('+ Add account');
    await signIn('grace@example.com', 'cobol-1959', async (url) => {
      assert.equal(await w.secondLaunch([url], bus), 0);
    });
    await waitFor('Grace in the header', async () => (await headerName()) === 'Grace Hopper', 20_000);
    const item = await waitFor('Grace listed', async () => {
      for (const el of await s.findAll('.account-item')) {
        const label = await el.attr('aria-label');
        if (label?.includes('Grace')) return label;
      }
      return null;
    });
    assert.ok(item.includes('this run only'), item);
    await seeText('Not saved: this run only');
    await w.shot(s, 'app-no-storage');
  });
});

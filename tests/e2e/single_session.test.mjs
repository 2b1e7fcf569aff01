// The journey's two-account part once more, against an emulator in
// single-session mode (Clerk's default: one signed-in session per client):
// a second account gets a client of its own, switching is local, a device of
// the active account is revoked through its own client, one account signs
// out (its client and credential are forgotten), and a restart brings the
// other back from the Secret Service.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { World, waitFor, ui } from './harness.mjs';

const w = new World({ emulatorArgs: ['--single-session'], service: 'dev.latchkey.desktop.e2e-single-session' });
let s;

before(async () => {
  await w.start();
});

after(async () => {
  if (s) await w.shot(s, 'single-zz-last').catch(() => {});
  await w.stop();
});

const { seeText, click, menuItem, headerName, signIn, accountItems } = ui(w, () => s);

/** Chooses an account in the list from the keyboard (focus, Enter). */
async function choose(name) {
  const items = await accountItems();
  const i = await s.execute(
    "return [...document.querySelectorAll('.account-item')].findIndex(b=>b.textContent.includes(arguments[0]));",
    [name],
  );
  assert.ok(i >= 0, `${name} is listed`);
  await s.execute("document.querySelectorAll('.account-item')[arguments[0]].focus();", [i]);
  await s.cmd('POST', `/element/${items[i].id}/value`, { text: '\uE007' });
}

const credentialEntries = () =>
  execFileSync('secret-tool', ['search', '--all', 'service', w.service], {
    env: w.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
    .split('\n')
    // Each item's label is "<key>@<service>:default (Latchkey)".
    .filter((l) => l.startsWith('label = credential:'))
    .map((l) => l.replace('label = ', '').split('@')[0]);

test('single-session instance: several accounts, each on its own client', async (t) => {
  await t.test('two accounts where Clerk allows one per client', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    await signIn('ada@example.com', 'analytical-engine', async (url) => {
      assert.equal(await w.secondLaunch([url]), 0);
    });
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace');
    await click('Add account');
    await seeText('Add an account');
    await signIn('grace@example.com', 'cobol-1959', async (url) => {
      assert.equal(await w.secondLaunch([url]), 0);
    });
    await waitFor('Grace in the header', async () => (await headerName()) === 'Grace Hopper');
    assert.equal((await accountItems()).length, 2);
    const creds = credentialEntries();
    assert.ok(
      creds.some((c) => /^credential:local:ins_\w+\/c1:[ab]$/.test(c)),
      `Grace's own client has its own credential: ${creds.join(', ')}`,
    );
    await w.shot(s, 'single-01-two-accounts');
  });

  await t.test('switches to Ada (locally) and revokes one of her other devices', async () => {
    await choose('Ada Lovelace');
    await waitFor('Ada active', async () => (await headerName()) === 'Ada Lovelace');
    await click('Devices');
    await seeText('Active devices');
    const n = await waitFor('Ada\'s devices', async () => {
      const d = (await s.findAll('.device')).length;
      return d >= 2 ? d : null;
    });
    const revoke = await s.findAll('.device button');
    await revoke[0].click();
    await w.answerDialog('Sign out this device?', 'Sign out device');
    await waitFor('one device fewer', async () => (await s.findAll('.device')).length === n - 1);
  });

  await t.test('signs Grace out: her client goes, Ada stays', async () => {
    await choose('Grace Hopper');
    await waitFor('Grace active', async () => (await headerName()) === 'Grace Hopper');
    await menuItem('Sign out ▾', 'Sign out of Grace Hopper');
    await seeText('Sign out of Grace Hopper?');
    // The dialog's own confirm button (other buttons say "Sign out" too).
    await (await waitFor('the confirm button', () => s.find('[role=dialog] button.primary'))).click();
    await seeText('Signed out Grace Hopper on this device.');
    await waitFor('Ada active again', async () => (await headerName()) === 'Ada Lovelace');
    assert.equal((await accountItems()).length, 1);
    await waitFor('her credential forgotten', () =>
      credentialEntries().every((c) => !c.includes('/c1:')));
  });

  await t.test('restart: Ada is back', async () => {
    await w.closeApp();
    s = await w.openApp();
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    assert.equal((await accountItems()).length, 1);
    await seeText('Claims of the current token');
    await w.shot(s, 'single-02-after-restart');
  });
});

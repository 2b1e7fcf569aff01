// Behaviours of real Clerk instances, in the real window: a pending session
// (the instance makes Grace choose an organization) resolved with the
// organization picker, and a step-up in the browser before revoking a
// device (the instance wants a verification less than a minute old).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { World, waitFor, ui } from './harness.mjs';

const w = new World({
  emulatorArgs: ['--session-task', 'grace@example.com=choose-organization', '--reverification-minutes', '1'],
  service: 'dev.latchkey.desktop.e2e-real-clerk',
});
let s;

before(async () => {
  await w.start();
});

after(async () => {
  if (s) await w.shot(s, 'real-zz-last').catch(() => {});
  await w.stop();
});

const { seeText, click, headerName, signIn } = ui(w, () => s);

test('real Clerk behaviours in the window', async (t) => {
  await t.test('a pending session is finished by choosing an organization', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    await signIn('grace@example.com', 'cobol-1959', async (url) => {
      assert.equal(await w.secondLaunch([url]), 0);
    });
    await waitFor('Grace in the header', async () => (await headerName()) === 'Grace Hopper');
    await seeText('Finish signing in');
    await seeText('choose an organization');
    assert.equal(await s.find('[role=tablist]'), null, 'no account views until it is finished');
    const label = await s.execute("return document.querySelector('.account-item').getAttribute('aria-label');", []);
    assert.match(label, /not finished signing in/);
    await w.shot(s, 'real-01-pending');
    const harvard = await waitFor('the Harvard Mark I choice', async () => {
      const labels = await s.findAll('.org-pick label');
      for (const l of labels) if ((await l.text()).includes('Harvard Mark I')) return l;
      return null;
    });
    await harvard.click();
    await click('Continue with this organization');
    await seeText('Grace Hopper is signed in with Harvard Mark I.');
    await seeText('Claims of the current token');
    await click('Organization');
    await seeText('Harvard Mark I');
  });

  await t.test('revoking a device asks to verify again, in the browser, then revokes', async () => {
    await click('Add account');
    await seeText('Add an account');
    await signIn('ada@example.com', 'analytical-engine', async (url) => {
      assert.equal(await w.secondLaunch([url]), 0);
    });
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace');
    await click('Devices');
    await seeText('Active devices');
    const n = await waitFor("Ada's devices", async () => {
      const d = (await s.findAll('.device')).length;
      return d >= 2 ? d : null;
    });
    // Two minutes later the instance wants a fresh verification.
    await w.advanceClock(2 * 60_000 + 5_000);
    const revoke = await s.findAll('.device button');
    await revoke[0].click();
    await w.answerDialog('Sign out this device?', 'Sign out device');
    await seeText('wants you to verify it is you first');
    const before = w.browserUrls().length;
    await click('Verify again in your browser');
    const page = await w.nextBrowserUrl(before);
    assert.match(page, /\/hosted\/sign-in\?attempt=/);
    await seeText('Verify again in your browser');
    await seeText('ada@example.com');
    await w.shot(s, 'real-02-verify-again');
    const callback = await w.hostedSignIn(page, 'ada@example.com', 'analytical-engine');
    assert.equal(await w.secondLaunch([callback]), 0);
    await seeText('Ada Lovelace verified again.');
    await seeText('Signed the device out.');
    await waitFor('Ada in the header again', async () => (await headerName()) === 'Ada Lovelace');
    await click('Devices');
    await waitFor('one device fewer', async () => (await s.findAll('.device')).length === n - 1);
    await w.shot(s, 'real-03-after-step-up');
  });
});

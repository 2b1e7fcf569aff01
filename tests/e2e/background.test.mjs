// Latchkey in the background, in the real window: closing the window hides
// it (Latchkey keeps refreshing and says once that it is still running),
// launching it again shows the window, the setting makes closing quit, and
// Ctrl+Q quits.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { World, waitFor, sleep, ui, isRunning } from './harness.mjs';

const w = new World({ service: 'dev.latchkey.desktop.e2e-background' });
let s;

before(async () => {
  await w.start();
});

after(async () => {
  await w.stop();
});

const { seeText, click, headerName, signIn } = ui(w, () => s);

test('life in the background', async (t) => {
  await t.test('closing the window hides it; Latchkey keeps working', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    await signIn('ada@example.com', 'analytical-engine', async (url) => {
      assert.equal(await w.secondLaunch([url]), 0);
    });
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace');
    const id = await waitFor('the window', () => w.appWindow({ visible: true }));
    w.closeWindow(id);
    await waitFor('the window hidden', () => w.appWindow({ visible: true }) === null);
    assert.ok(isRunning(w.app), 'still running');
    await waitFor('the "still running" notification', () => w.notifications().includes('Latchkey is still running'));
    // Two-second tokens keep being refreshed while hidden.
    const before = await w.tokenRequests();
    await sleep(4000);
    assert.ok((await w.tokenRequests()) > before, 'refreshing while hidden');
  });

  await t.test('launching Latchkey again shows the window', async () => {
    assert.equal(await w.secondLaunch([]), 0);
    await waitFor('the window shown', () => w.appWindow({ visible: true }));
    await seeText('Claims of the current token');
    // Said once only: a second close tells nothing new.
    w.closeWindow(w.appWindow({ visible: true }));
    await waitFor('hidden again', () => w.appWindow({ visible: true }) === null);
    await sleep(500);
    assert.equal(w.notifications().split('Latchkey is still running').length - 1, 1);
    assert.equal(await w.secondLaunch([]), 0);
    await waitFor('shown again', () => w.appWindow({ visible: true }));
  });

  await t.test('with the setting off, closing the window quits', async () => {
    await click('Settings');
    const box = await waitFor('the setting', () => s.find('label.check input'));
    await box.click();
    await waitFor('the setting saved', async () => (await s.execute('return document.querySelector("label.check input").checked;')) === false);
    w.closeWindow(w.appWindow({ visible: true }));
    await waitFor('Latchkey to quit', () => !isRunning(w.app), 20_000);
    await w.closeApp();
  });

  await t.test('Ctrl+Q quits', async () => {
    s = await w.openApp();
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    const id = await waitFor('the window', () => w.appWindow({ visible: true }));
    const { execFileSync } = await import('node:child_process');
    execFileSync('xdotool', ['windowfocus', '--sync', id], { env: w.env });
    execFileSync('xdotool', ['key', '--clearmodifiers', 'ctrl+q'], { env: w.env });
    await waitFor('Latchkey to quit', () => !isRunning(w.app), 20_000);
    await w.closeApp();
  });
});

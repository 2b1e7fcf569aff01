// Latchkey in the background, in the real window: closing the window hides
// it (Latchkey keeps refreshing and says once that it is still running),
// launching it again shows the window, the setting makes closing quit, and
// Ctrl+Q quits. "Start Latchkey when I log in" writes an autostart entry
// that starts it hidden (and still working); turning it off removes it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { World, waitFor, sleep, ui, isRunning, root } from './harness.mjs';

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
    // `latchkey token` is answered by the running app over its socket: it
    // works even where the CLI could not reach the keychain itself.
    const out = execFileSync(path.join(root, 'target/debug/latchkey'), ['token'], {
      env: { ...w.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.match(out.trim(), /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
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
    execFileSync('xdotool', ['windowfocus', '--sync', id], { env: w.env });
    execFileSync('xdotool', ['key', '--clearmodifiers', 'ctrl+q'], { env: w.env });
    await waitFor('Latchkey to quit', () => !isRunning(w.app), 20_000);
    await w.closeApp();
  });

  await t.test('"Start Latchkey when I log in" starts it hidden, and working', async () => {
    s = await w.openApp();
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    await click('Settings');
    const box = await waitFor('the login setting', () => s.find('#start-at-login'));
    assert.equal(await s.execute('return document.getElementById("start-at-login").checked;'), false, 'off by default');
    await box.click();
    const entry = path.join(w.home, '.config', 'autostart', 'Latchkey.desktop');
    await waitFor('the login entry', () => fs.existsSync(entry));
    const exec = fs.readFileSync(entry, 'utf8').match(/^Exec=(.*)$/m)?.[1].trim().split(/\s+/);
    assert.deepEqual(exec, [w.app, '--hidden']);
    await w.closeApp();

    // What the desktop does at login.
    const login = spawn(exec[0], exec.slice(1), { env: w.env, stdio: 'ignore' });
    try {
      await waitFor('Latchkey running', () => isRunning(w.app));
      const before = await w.tokenRequests();
      await waitFor('refreshing in the background', async () => (await w.tokenRequests()) > before, 45_000);
      assert.equal(w.appWindow({ visible: true }), null, 'no window at login');
      assert.equal(await w.secondLaunch([]), 0);
      await waitFor('the window, when launched', () => w.appWindow({ visible: true }));
    } finally {
      login.kill('SIGTERM');
    }
    await waitFor('Latchkey to quit', () => !isRunning(w.app), 20_000);

    s = await w.openApp();
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    await click('Settings');
    const again = await waitFor('the login setting', () => s.find('#start-at-login'));
    assert.equal(await s.execute('return document.getElementById("start-at-login").checked;'), true);
    await again.click();
    await waitFor('the login entry removed', () => !fs.existsSync(entry));
    await w.closeApp();
  });
});

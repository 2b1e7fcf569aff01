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

/** WebKit web processes under the running app (any depth). */
function webProcesses(bin) {
  const parent = new Map();
  const name = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(d, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      name.set(d, fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')[0]);
    } catch {
      // gone
    }
  }
  const apps = [...name].filter(([, n]) => n === bin).map(([p]) => p);
  const under = (p) => {
    for (let q = parent.get(p); q && q !== '0'; q = parent.get(q)) if (apps.includes(q)) return true;
    return false;
  };
  return [...name].filter(([p, n]) => n.endsWith('/WebKitWebProcess') && under(p)).length;
}

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

  await t.test('a window hidden for a while is unloaded (no WebKit left) and comes back when asked for', async () => {
    await w.closeApp();
    s = await w.openApp({ LATCHKEY_UNLOAD_HIDDEN_AFTER_SECS: '2' });
    await waitFor('Ada back', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    assert.ok(webProcesses(w.app) > 0, 'a web process while shown');
    w.closeWindow(await waitFor('the window', () => w.appWindow({ visible: true })));
    await waitFor('the web process gone', () => webProcesses(w.app) === 0, 30_000);
    assert.equal(w.appWindow(), null, 'no window at all, not even a hidden one');
    assert.ok(isRunning(w.app), 'Latchkey still running');
    const before = await w.tokenRequests();
    await waitFor('refreshing with no window', async () => (await w.tokenRequests()) > before, 20_000);
    // Asked for again: a new window with a new page, which gets the
    // accounts (and what happened meanwhile) like any start.
    assert.equal(await w.secondLaunch([]), 0);
    await waitFor('the window, created again', () => w.appWindow({ visible: true }), 30_000);
    assert.ok(webProcesses(w.app) > 0, 'a web process again');
    const handles = await s.cmd('GET', '/window/handles');
    await s.cmd('POST', '/window', { handle: handles[handles.length - 1] });
    await waitFor('Ada in the new page', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    // Shown again before the delay ran out: not unloaded.
    w.closeWindow(w.appWindow({ visible: true }));
    await waitFor('hidden', () => w.appWindow({ visible: true }) === null);
    assert.equal(await w.secondLaunch([]), 0);
    await waitFor('shown', () => w.appWindow({ visible: true }));
    await sleep(3000);
    assert.ok(webProcesses(w.app) > 0, 'kept while shown');
    assert.equal(await headerName(), 'Ada Lovelace');
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
      // Nobody asks for a token (no window): the background loop refreshes
      // as soon as the accounts are read.
      await waitFor('refreshing in the background', async () => (await w.tokenRequests()) > before, 20_000);
      assert.equal(w.appWindow(), null, 'no window at login, not even a hidden one');
      assert.equal(webProcesses(w.app), 0, 'no WebKit at login');
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

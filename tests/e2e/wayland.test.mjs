// One smoke run under Wayland: weston's headless backend on a runtime dir of
// its own, the app with GDK_BACKEND=wayland and no X display. It starts,
// shows its window (the page is rendered and answers over WebDriver) and
// takes a deep link: a sign-in finished through a second launch with the
// callback, as the desktop would hand it over.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { World, waitFor, ui } from './harness.mjs';

const w = new World({ service: 'dev.latchkey.desktop.e2e-wayland' });
let s;
let wayland;

before(async () => {
  await w.start();
  const runtime = path.join(w.tmp, 'runtime');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const socket = 'latchkey-wayland';
  w.spawn('weston', ['--backend=headless-backend.so', `--socket=${socket}`, '--idle-time=0', '--width=1024', '--height=768'], {
    env: { ...w.env, XDG_RUNTIME_DIR: runtime },
  });
  await waitFor('weston', () => fs.existsSync(path.join(runtime, socket)), 20_000);
  wayland = { XDG_RUNTIME_DIR: runtime, WAYLAND_DISPLAY: socket, GDK_BACKEND: 'wayland', DISPLAY: '' };
});

after(async () => {
  await w.stop();
});

const { seeText, headerName, signIn } = ui(w, () => s);

test('under Wayland (weston, headless)', async (t) => {
  await t.test('the app starts and shows its window', async () => {
    s = await w.openApp(wayland);
    await seeText('Continue in browser', 60_000);
    const size = await s.execute('return [window.innerWidth, window.innerHeight];');
    assert.ok(size[0] > 300 && size[1] > 300, `a real window: ${size}`);
  });

  await t.test('it takes a deep link', async () => {
    await signIn('ada@example.com', 'analytical-engine', async (url) => {
      assert.equal(await w.secondLaunch([url], wayland), 0);
    });
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace', 30_000);
    await w.closeApp();
  });
});

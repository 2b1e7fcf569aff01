// Links through the real desktop (gio, the per-user handler the app
// registered), in the real window: the first run checks quietly that links
// open Latchkey; Settings → "Check that links open Latchkey" sees its link
// arrive, and when the registration is broken says what was wrong, repairs
// it and sees the link arrive; "Use the link I copied" signs in from the X
// clipboard; "Forget everything on this device" leaves no keychain item, no
// data dir and no handler, and quits.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { World, waitFor, sleep, ui, isRunning } from './harness.mjs';

const w = new World({ service: 'dev.latchkey.desktop.e2e-links' });
let s;

before(async () => {
  await w.start();
});

after(async () => {
  await w.stop();
});

const { seeText, noText, click, headerName, signIn } = ui(w, () => s);
const apps = () => path.join(process.env.XDG_DATA_HOME, 'applications');
const handlerEntry = () => path.join(apps(), 'latchkey-app-handler.desktop');
const mimeapps = () => path.join(w.env.XDG_CONFIG_HOME, 'mimeapps.list');
const settingsFile = () => path.join(w.dataDir, 'settings.json');
const keychainItems = () => {
  try {
    return execFileSync('secret-tool', ['search', '--all', 'service', w.service], {
      env: w.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch {
    return '';
  }
};

test('links', async (t) => {
  await t.test('the first run checks quietly that links open Latchkey', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    await waitFor('the quiet check done', () => {
      try {
        return JSON.parse(fs.readFileSync(settingsFile(), 'utf8')).link_check_done === true;
      } catch {
        return false;
      }
    }, 30_000);
    const text = await s.text();
    assert.ok(!text.includes('A link was not used'), text);
    assert.ok(!text.includes('Links do not open'), text);
    assert.ok(fs.existsSync(handlerEntry()), 'registered for this user');
  });

  await t.test('Settings: the check sees its link arrive', async () => {
    await click('Settings');
    await click('Check that links open Latchkey');
    await seeText('Links open Latchkey.', 20_000);
  });

  await t.test('a broken registration is named, repaired, and checked again', async () => {
    // What a desktop clean-up (or another app) can do: the handler is gone.
    fs.rmSync(handlerEntry());
    fs.rmSync(mimeapps(), { force: true });
    execFileSync('update-desktop-database', [apps()], { env: w.env });
    await click('Check that links open Latchkey');
    await seeText('Checking', 5_000);
    await seeText('repaired for this user, and they do now', 40_000);
    await seeText('no application is set to open dev.latchkey.desktop:// links');
    const file = await w.shot(s, 'app-link-check');
    assert.ok(fs.existsSync(file));
    const entry = fs.readFileSync(handlerEntry(), 'utf8');
    assert.match(entry, /^Exec=.*%u$/m);
    assert.match(entry, /^MimeType=x-scheme-handler\/dev\.latchkey\.desktop;?$/m);
  });

  await t.test('"Use the link I copied" signs in from the clipboard', async () => {
    await click('Back');
    let callback;
    await signIn('ada@example.com', 'analytical-engine', async (url) => {
      callback = url;
    });
    // The browser could not open it; the user copied the address.
    const xclip = spawn('xclip', ['-selection', 'clipboard', '-quiet'], { env: w.env, stdio: ['pipe', 'ignore', 'ignore'] });
    w.procs.push(xclip);
    xclip.stdin.end(callback);
    await sleep(300);
    const summary = await waitFor('the trouble section', () => s.find('.waiting details.trouble summary'));
    await summary.click();
    await click('Use the link I copied');
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace', 20_000);
    let clip = '';
    try {
      clip = execFileSync('xclip', ['-selection', 'clipboard', '-o'], { env: w.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      // Emptied: nothing to read.
    }
    assert.notEqual(clip, callback, 'the single-use link was taken off the clipboard');
  });

  await t.test('"Forget everything on this device" leaves nothing and quits', async () => {
    assert.ok(keychainItems().includes(w.service), 'something in the keychain before');
    await click('Settings');
    await click('Forget everything on this device');
    await w.answerDialog('Forget everything on this device?', 'Forget everything', { shot: 'forget-dialog' });
    await seeText('Latchkey forgot everything on this device', 20_000);
    await w.shot(s, 'app-forgotten');
    await waitFor('Latchkey to quit', () => !isRunning(w.app), 20_000);
    assert.equal(keychainItems(), '', 'no keychain item left');
    assert.ok(!fs.existsSync(w.dataDir), 'the data dir is gone');
    assert.ok(!fs.existsSync(handlerEntry()), 'the handler entry is gone');
    const list = fs.existsSync(mimeapps()) ? fs.readFileSync(mimeapps(), 'utf8') : '';
    assert.ok(!list.includes('latchkey-app-handler.desktop'), list);
    await w.closeApp().catch(() => {});
  });
});

// The first run, in the real window: a fresh profile shows what Latchkey
// does and the two ways in ("Try the local demo", "Connect a Clerk app"); a
// key that is not a publishable key is refused with a clear error; the local
// demo leads to its sign-in, and the screen is not shown again (not after a
// restart either). Data files from a newer version are left as they are.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { World, ui } from './harness.mjs';

const w = new World({ service: 'dev.latchkey.desktop.e2e-first-run', firstRun: true });
let s;

before(async () => {
  await w.start();
});

after(async () => {
  await w.stop();
});

test('the first run', async (t) => {
  const h = ui(w, () => s);

  await t.test('a fresh profile shows the first-run screen', async () => {
    s = await w.openApp();
    await h.seeText('Welcome to Latchkey', 30_000);
    const text = await h.bodyText();
    assert.ok(text.includes('Try the local demo') && text.includes('Connect a Clerk app'), text);
    assert.ok(!text.includes('Continue in browser'), 'not the sign-in view yet');
    await w.shot(s, 'app-first-run');
  });

  await t.test('a key that is not a publishable key is refused', async () => {
    const input = await s.find('#welcome-pk');
    await input.type('pk_test_not-a-key');
    await h.click('Connect');
    await h.seeText('not valid base64', 10_000);
    assert.ok((await h.bodyText()).includes('Welcome to Latchkey'), 'still on the first-run screen');
  });

  await t.test('"Try the local demo" leads to its sign-in, once', async () => {
    await h.click('Try the local demo');
    await h.seeText('Continue in browser', 10_000);
    await h.seeText('Local demo instance');
    const saved = JSON.parse(fs.readFileSync(path.join(w.dataDir, 'settings.json'), 'utf8'));
    assert.equal(saved.welcomed, true);
    assert.equal(saved.format, 2);
    await w.closeApp();
    s = await w.openApp();
    await h.seeText('Continue in browser', 30_000);
    assert.ok(!(await h.bodyText()).includes('Welcome to Latchkey'));
  });

  await t.test('settings from a newer version are left as they are, and said so', async () => {
    await w.closeApp();
    const file = path.join(w.dataDir, 'settings.json');
    const newer = '{"format": 99, "welcomed": true, "from_the_future": 1}';
    fs.writeFileSync(file, newer);
    s = await w.openApp();
    await h.seeText('settings.json was written by a newer version of Latchkey', 30_000);
    // It uses the defaults this run (the first-run screen) and answering
    // it changes nothing on disk.
    await h.click('Try the local demo');
    await h.seeText('Continue in browser', 10_000);
    assert.equal(fs.readFileSync(file, 'utf8'), newer);
    await w.closeApp();
  });
});

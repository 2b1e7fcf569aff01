// What a script in the app's page can observe, in the real webview: it may
// not listen to global events (the deep-link plugin announces every
// incoming URL as one), a callback credential delivered by a second launch
// appears in no IPC answer, no event the page can receive and no line of
// the app's log, and the window cannot be navigated away from the app.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { World, waitFor, sleep, ui } from './harness.mjs';

const w = new World({ service: 'dev.latchkey.desktop.e2e-page-scripts' });
let s;

before(async () => {
  await w.start();
});

after(async () => {
  if (s) await w.shot(s, 'page-zz-last').catch(() => {});
  await w.stop();
});

const { seeText } = ui(w, () => s);

/** Runs `body` in the page as an async function; resolves with what it
 * returns, or `{error}` when it throws. */
async function inPage(body, args = []) {
  try {
    return await runInPage(body, args);
  } catch (e) {
    // A rejection the driver reports as a script error.
    return { error: String(e) };
  }
}

function runInPage(body, args) {
  return s.executeAsync(
    `const done = arguments[arguments.length - 1];
     (async (...a) => { ${body} })(...Array.from(arguments).slice(0, -1))
       .then((v) => done(v === undefined ? null : v), (e) => done({ error: String(e) }));`,
    args,
  );
}

test('page scripts see no callback credential', async (t) => {
  s = await w.openApp();
  await seeText('Continue in browser', 30_000);

  await t.test('a page script may not listen to the deep-link event (or any)', async () => {
    for (const event of ['deep-link://new-url', 'latchkey://event', 'tauri://focus']) {
      const r = await inPage(
        `const I = window.__TAURI_INTERNALS__;
         const handler = I.transformCallback(() => {});
         return await I.invoke('plugin:event|listen', { event: a[0], target: { kind: 'Any' }, handler });`,
        [event],
      );
      assert.ok(r && r.error, `listening to ${event} was allowed: ${JSON.stringify(r)}`);
      assert.match(r.error, /not allowed|denied/i, event);
    }
  });

  await t.test('a canary ticket from a second launch reaches no answer, event or log line', async () => {
    const canary = 'CANARYTICKET0123456789abcdefghijklmnop';
    // Whatever a page script can receive: it subscribes to the app's event
    // channel itself (taking the window's place) and records every answer.
    const sub = await inPage(
      `const I = window.__TAURI_INTERNALS__;
       window.__seen = [];
       const id = I.transformCallback((m) => window.__seen.push(JSON.stringify(m)), false);
       await I.invoke('subscribe', { channel: '__CHANNEL__:' + id });
       return true;`,
    );
    assert.equal(sub, true, JSON.stringify(sub));
    assert.equal(await w.secondLaunch([`dev.latchkey.desktop://handoff?ticket=${canary}`]), 0);
    // The link is refused (not a ticket the instance minted); the page
    // hears that much.
    const seen = await waitFor('the window to hear about the link', async () => {
      const v = await s.execute('return window.__seen.join("\\n");');
      return v.includes('link_rejected') ? v : null;
    });
    assert.ok(!seen.includes(canary), `an event carried the ticket: ${seen}`);
    const answers = await inPage(
      `const I = window.__TAURI_INTERNALS__;
       const out = [];
       for (const cmd of ['snapshot']) out.push(JSON.stringify(await I.invoke(cmd, {})));
       return out.join('\\n');`,
    );
    assert.equal(typeof answers, 'string');
    assert.ok(!answers.includes(canary), 'an IPC answer carried the ticket');
    const page = await s.execute('return document.documentElement.outerHTML;');
    assert.ok(!page.includes(canary));
    // The app's own log file (tauri-plugin-log).
    await sleep(500);
    const logs = path.join(process.env.XDG_DATA_HOME ?? '', 'dev.latchkey.desktop', 'logs');
    const files = fs.existsSync(logs) ? fs.readdirSync(logs) : [];
    assert.ok(files.length > 0, `the app wrote a log in ${logs}`);
    for (const f of files) {
      const text = fs.readFileSync(path.join(logs, f), 'utf8');
      assert.ok(text.length > 0);
      assert.ok(!text.includes(canary), `${f} has the ticket`);
    }
  });

  await t.test('the window cannot be navigated away from the app', async () => {
    const before = await s.execute('return location.href;');
    assert.match(before, /^(tauri:\/\/localhost|https?:\/\/tauri\.localhost)/, before);
    for (const target of ['https://example.com/', 'http://127.0.0.1:9/phish', 'data:text/html,<h1>Sign in</h1>']) {
      await s.execute('try { location.href = arguments[0]; } catch (e) {}', [target]);
      await sleep(500);
      assert.equal(await s.execute('return location.href;'), before, target);
    }
    await seeText('Continue in browser');
  });
});

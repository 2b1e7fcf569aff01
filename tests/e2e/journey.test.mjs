// The whole journey through the real app: sign in (callback delivered by
// `gio open` after the scheme registration, and by a second launch), details
// and claims, a second account, switch, ticket handoff from the demo web app
// with Continue and Undo, organization and members, active devices (revoke
// one, sign out all others), a revocation from "another device" through the
// Backend API (the account flips, a notification goes out), restart (the
// accounts are in the Secret Service and in no file), sign out everywhere.
// Screenshots of every view, plus dark theme and 200 % zoom.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { World, waitFor, sleep, ui, threadNames } from './harness.mjs';

const w = new World();
let s; // the WebDriver session

before(async () => {
  await w.start();
});

after(async () => {
  if (s) await w.shot(s, 'zz-last').catch(() => {});
  await w.stop();
});

const { bodyText, seeText, noText, click, menuItem, headerName, signIn } = ui(w, () => s);

test('the journey', async (t) => {
  await t.test('starts on the local demo instance and asks to sign in', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    const text = await bodyText();
    assert.match(text, /Local demo instance/);
    assert.match(text, /Continue with Google/);
    assert.match(text, /Continue with GitHub/);
    await w.shot(s, '01-sign-in');
  });

  await t.test('paints without OpenGL compositing (no software rasterizer threads)', () => {
    // With compositing, a machine without a GPU driver (as here) runs
    // Mesa's llvmpipe threads in the web process; the app turns it off.
    const threads = threadNames(w.app);
    const web = threads.WebKitWebProces;
    assert.ok(web?.length, `the app's web process: ${Object.keys(threads)}`);
    assert.deepEqual(
      Object.values(threads).flat().filter((n) => /^llvmpipe/.test(n)),
      [],
      'no llvmpipe thread in the app or its WebKit processes',
    );
  });

  await t.test('sign-in waiting state: cancel says so and changes nothing', async () => {
    const before = w.browserUrls().length;
    await click('Continue in browser');
    await w.nextBrowserUrl(before);
    // The browser does not inherit the compositing switch the app set for
    // its own webview (a user's own setting would pass through).
    assert.equal(w.browserCompositingVar().at(-1), process.env.WEBKIT_DISABLE_COMPOSITING_MODE ?? 'unset');
    await seeText('Finish signing in in your browser');
    assert.ok(await s.button('Open the page again'));
    assert.ok(await s.button('Copy link'));
    const link = await (await s.find('#sign-in-link')).attr('value');
    assert.match(link, /\/hosted\/sign-in\?attempt=/);
    await w.shot(s, '02-sign-in-waiting');
    await click('Cancel');
    await seeText('Sign-in cancelled');
  });

  let adaSession;
  await t.test('signs in; the callback arrives through xdg-open (registered scheme)', async () => {
    // register_all wrote a handler into the private XDG dirs.
    const apps = path.join(process.env.XDG_DATA_HOME, 'applications');
    const handler = fs.readdirSync(apps).find((f) => f.endsWith('.desktop'));
    assert.ok(handler, 'a .desktop handler was registered');
    assert.match(fs.readFileSync(path.join(apps, handler), 'utf8'), /x-scheme-handler\/dev\.latchkey\.desktop/);
    await signIn('ada@example.com', 'analytical-engine', async (url) => w.xdgOpen(url));
    await waitFor('Ada in the header', async () => (await headerName()) === 'Ada Lovelace');
  });

  await t.test('shows session details, a live countdown and the decoded claims', async () => {
    await seeText('Claims of the current token');
    const sid = await waitFor('a session id', async () => {
      const dd = await s.execute(
        "const dt=[...document.querySelectorAll('dt')].find(d=>d.textContent==='Session id');return dt?dt.nextElementSibling.textContent:null;",
      );
      return dd && dd.startsWith('sess_') ? dd : null;
    });
    adaSession = sid;
    const claims = JSON.parse(await (await s.find('pre.claims')).text());
    assert.equal(claims.sid, sid);
    assert.match(claims.sub, /^user_/);
    await seeText('valid 0:0');
    // The token itself never reaches the DOM.
    const html = await s.execute('return document.documentElement.outerHTML;');
    assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(html), 'no JWT in the page');
    await w.shot(s, '03-session');
  });

  await t.test('adds a second account; the callback arrives by a second launch', async () => {
    await click('Add account');
    await seeText('Add an account');
    await signIn('grace@example.com', 'cobol-1959', async (url) => {
      const code = await w.secondLaunch([url]);
      assert.equal(code, 0, 'the second instance hands over and exits');
    });
    await waitFor('Grace in the header', async () => (await headerName()) === 'Grace Hopper');
    const items = await s.findAll('.account-item');
    assert.equal(items.length, 2);
  });

  await t.test('a second delivery of the same callback changes nothing', async () => {
    const last = w.browserUrls().length;
    // Re-deliver a rejected/duplicate link: no new account, no browser.
    await w.secondLaunch(['dev.latchkey.desktop://callback?state=forged&code=x']);
    await seeText('A link was not used: Rejected callback');
    assert.equal((await s.findAll('.account-item')).length, 2);
    assert.equal(w.browserUrls().length, last);
    await (await s.find('[data-notice=error] button[aria-label=Dismiss]')).click();
    await noText('A link was not used');
  });

  await t.test('extra flags, several arguments and non-UTF-8 bytes do nothing', async () => {
    assert.equal(await w.secondLaunch(['--verbose', 'dev.latchkey.desktop://callback?a=1', 'x']), 0);
    assert.equal(await w.secondLaunchRaw(), 0, 'no panic on a non-UTF-8 argument');
    await sleep(500);
    assert.equal((await s.findAll('.account-item')).length, 2);
    assert.equal(await headerName(), 'Grace Hopper');
    assert.ok(!(await bodyText()).includes('A link was not used'));
  });

  await t.test('switches accounts from the list, by keyboard', async () => {
    const ada = await s.execute(
      "return [...document.querySelectorAll('.account-item')].findIndex(b=>b.textContent.includes('Ada'));",
    );
    assert.ok(ada >= 0);
    const items = await s.findAll('.account-item');
    // Focus it and press Enter: the keyboard path.
    await s.execute("document.querySelectorAll('.account-item')[arguments[0]].focus();", [ada]);
    await s.cmd('POST', `/element/${items[ada].id}/value`, { text: '\uE007' });
    await waitFor('Ada active', async () => (await headerName()) === 'Ada Lovelace');
    const current = await s.execute("return document.querySelector('.account-item[aria-current=true]').textContent;");
    assert.match(current, /Ada Lovelace/);
    await w.shot(s, '04-accounts');
  });

  await t.test('keyboard and labels: tabs move with arrow keys, every control has a name', async () => {
    await s.execute("document.getElementById('tab-session').focus();");
    const tab = await s.find('#tab-session');
    await s.cmd('POST', `/element/${tab.id}/value`, { text: '\uE014' }); // ArrowRight
    await waitFor('Organization selected', async () =>
      (await s.execute("return document.activeElement.id + ' ' + document.activeElement.getAttribute('aria-selected');")) ===
      'tab-organization true');
    await seeText('Active organization');
    await s.cmd('POST', `/element/${(await s.find('#tab-organization')).id}/value`, { text: '\uE012' }); // ArrowLeft
    await seeText('Claims of the current token');
    const unnamed = await s.execute(`
      const named = (el) => (el.getAttribute('aria-label') || el.textContent || '').trim() ||
        (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.getAttribute('title');
      return [...document.querySelectorAll('button, input, select, [role=tab], [role=menuitem]')]
        .filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 80));`);
    assert.deepEqual(unnamed, []);
  });

  await t.test('ticket handoff from the demo web app: names the account, adds, undo', async () => {
    const link = await w.demoHandoffLink('katherine@example.com');
    assert.match(link, /^dev\.latchkey\.desktop:\/\/handoff\?ticket=/);
    assert.equal(await w.secondLaunch([link]), 0);
    await seeText('Add Katherine Johnson <katherine@example.com> from Latchkey Demo?');
    await seeText('Your current account stays active.');
    // Nothing was added yet.
    assert.equal((await s.findAll('.account-item')).length, 2);
    await w.shot(s, '05-handoff-ask');
    await click('Continue');
    await seeText('Added Katherine Johnson');
    assert.equal(await headerName(), 'Ada Lovelace', 'the active account stays active');
    assert.equal((await s.findAll('.account-item')).length, 3);
    await w.shot(s, '06-handoff-added');
    await click('Undo');
    await seeText('Removed Katherine Johnson again');
    await waitFor('Katherine signed out', async () => {
      const t = await s.execute("return [...document.querySelectorAll('.account-item')].map(b=>b.textContent).join('|');");
      return !/Katherine Johnson\s*katherine@example.com/.test(t);
    });
  });

  await t.test('organization: switch org, role and permissions, members for admins', async () => {
    await click('Organization');
    await seeText('Active organization');
    const sel = await s.find('#org-select');
    const orgId = await s.execute(
      "return [...document.querySelectorAll('#org-select option')].find(o=>o.textContent.startsWith('Analytical Engines')).value;",
    );
    await s.execute(
      "const e=document.querySelector('#org-select'); e.value=arguments[0]; e.dispatchEvent(new Event('change'));",
      [orgId],
    );
    assert.ok(sel);
    await click('Switch');
    await seeText('org:admin');
    await seeText('Members');
    await seeText('grace@example.com');
    await w.shot(s, '07-organization-admin');
    // As a plain member of Harvard Mark I: no members list.
    const other = await s.execute(
      "return [...document.querySelectorAll('#org-select option')].find(o=>o.textContent.startsWith('Harvard Mark I')).value;",
    );
    await s.execute(
      "const e=document.querySelector('#org-select'); e.value=arguments[0]; e.dispatchEvent(new Event('change'));",
      [other],
    );
    await click('Switch');
    await seeText('org:member');
    await seeText('The members list is for organization admins.');
    assert.ok(!(await s.find('table.members')));
  });

  await t.test('active devices: this device first, revoke one, sign out all others', async () => {
    await click('Devices');
    await seeText('Active devices');
    await waitFor('three devices', async () => (await s.findAll('.device')).length === 3);
    const first = await s.execute("return document.querySelector('.device').textContent;");
    assert.match(first, /This device/);
    assert.match(await bodyText(), /iPhone/);
    await w.shot(s, '08-devices');

    // A new sign-in elsewhere: announced ("Was this you?"), in the window
    // and on the notification bus; "No" signs it out.
    await w.bapi('POST', '/v1/sessions', {
      user_id: await w.userId('ada@example.com'),
      user_agent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      ip_address: '203.0.113.9',
    });
    await click('Refresh');
    await seeText('Was this you?');
    await waitFor('the new-device notification on the bus', () => w.notifications().includes('New sign-in to your account'));
    await waitFor('four devices', async () => (await s.findAll('.device')).length === 4);
    await w.shot(s, '08a-new-device');
    await click('No, sign it out');
    await w.answerDialog('Sign out this device?', 'Sign out device');
    await seeText('That device was signed out');
    await click('Refresh');
    await waitFor('three devices again', async () => (await s.findAll('.device')).length === 3);

    // Another one, answered from the desktop notification's "Not me" button
    // (through the notification server): the same revoke, Rust asks first.
    const before = await w.bapi('GET', `/v1/sessions?user_id=${await w.userId('ada@example.com')}&status=active`);
    await w.bapi('POST', '/v1/sessions', {
      user_id: await w.userId('ada@example.com'),
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
      ip_address: '198.51.100.7',
    });
    await click('Refresh');
    await waitFor('four devices', async () => (await s.findAll('.device')).length === 4);
    await waitFor('its notification', () => w.notifications().split('New sign-in to your account').length - 1 >= 2);
    w.chooseNotificationAction('Not me');
    await w.answerDialog('Sign out this device?', 'Sign out device');
    await waitFor('"signed out" on the bus', () => w.notifications().includes('That device was signed out'));
    await click('Refresh');
    await waitFor('three devices again', async () => (await s.findAll('.device')).length === 3);
    const after = await w.bapi('GET', `/v1/sessions?user_id=${await w.userId('ada@example.com')}&status=active`);
    assert.equal(after.length ?? after.data?.length, before.length ?? before.data?.length);

    // Rust asks in a native dialog (the page cannot answer it): first a
    // no, which changes nothing, then a yes.
    let revoke = await s.findAll('.device button');
    await revoke[0].click();
    await w.answerDialog('Sign out this device?', 'Sign out device', { yes: false });
    await sleep(300);
    assert.equal((await s.findAll('.device')).length, 3, 'a no signs nothing out');
    revoke = await s.findAll('.device button');
    await revoke[0].click();
    await w.answerDialog('Sign out this device?', 'Sign out device', { shot: '08b-native-confirm' });
    await seeText('signed out');
    await waitFor('two devices', async () => (await s.findAll('.device')).length === 2);
    await click('Sign out all other devices');
    await w.answerDialog('Sign out all other devices of Ada Lovelace?', 'Sign out other devices');
    await waitFor('only this device', async () => (await s.findAll('.device')).length === 1);
    await w.shot(s, '09-devices-after');
  });

  await t.test('settings: instances, secure storage, adding a Clerk instance checks the key', async () => {
    await click('Settings');
    await seeText('Add a Clerk instance by its publishable key');
    await seeText('Local demo instance');
    await seeText('Sign-ins are kept in your system keychain');
    const input = await s.find('#pk');
    await input.type('pk_test_not-a-key');
    await click('Add instance');
    await seeText('Configuration problem');
    await w.shot(s, '10a-settings');
  });

  await t.test('revoked from another device: the account flips and a notification goes out', async () => {
    await click('Session');
    await w.bapi('POST', `/v1/sessions/${adaSession}/revoke`);
    await seeText('Ada Lovelace was signed out: the session was revoked from another device', 20_000);
    await waitFor('the notification on the bus', () => {
      const log = w.notifications();
      return log.includes('member=Notify') && log.includes('Ada Lovelace was signed out');
    }, 20_000);
    const list = await waitFor('Ada listed as signed out', async () => {
      const l = await s.execute("return [...document.querySelectorAll('.account-item')].map(b=>b.getAttribute('aria-label')).join('|');");
      return /Ada Lovelace[^|]*signed out/.test(l) ? l : null;
    });
    assert.match(list, /Grace Hopper[^|]*active account/, 'the other account took over');
    // No spurious "revoked" for the account signed out here by Undo.
    assert.ok(!w.notifications().includes('Katherine Johnson was signed out'));
    await w.shot(s, '10-revoked');
  });

  await t.test('restart: the accounts come back from the Secret Service, no credential in any file', async () => {
    await w.closeApp();
    const { entries, stored, files } = w.credentialsInFiles();
    assert.match(entries, /credential:/, 'credentials are in the Secret Service');
    // The client credential is a JWT-shaped string inside the entry.
    assert.ok(stored.length > 0, `a client credential is stored (${entries.length} bytes of entries)`);
    // In no file Latchkey writes.
    assert.deepEqual(files, [], 'the credential is in a file');
    // Cold start by a link (the handoff from the demo web app started the
    // app), in the dark theme for the screenshots below.
    const link = await w.demoHandoffLink('alan@example.com');
    s = await w.openApp({ GTK_THEME: 'Adwaita:dark' }, undefined, [link]);
    await seeText('Add Alan Turing <alan@example.com> from Latchkey Demo?', 30_000);
    await click('Continue');
    await seeText('Added Alan Turing');
    await waitFor('Grace back and still active', async () => (await headerName()) === 'Grace Hopper', 30_000);
    assert.equal((await s.findAll('.account-item')).length, 2, 'Grace and Alan');
    // Handled exactly once: no second question.
    await sleep(1500);
    assert.ok(!(await bodyText()).includes('from Latchkey Demo?'));
    await w.shot(s, '11a-cold-start-handoff');
    assert.equal(await s.execute("return matchMedia('(prefers-color-scheme: dark)').matches;"), true);
    await seeText('Claims of the current token');
    await w.shot(s, '11-dark-session');
  });

  await t.test('readable at 200 % zoom and at 800×600', async () => {
    // Page zoom as Ctrl++ does it (the webview's zoom, not CSS).
    await s.executeAsync(
      "const done=arguments[arguments.length-1]; window.__TAURI_INTERNALS__.invoke('plugin:webview|set_webview_zoom', {value: 2}).then(()=>done(true), e=>done(String(e)));",
    );
    await waitFor('the zoom to apply', async () => (await s.execute('return window.innerWidth;')) <= 520);
    const overflow = await s.execute('return document.documentElement.scrollWidth - document.documentElement.clientWidth;');
    assert.ok(overflow <= 1, `horizontal overflow at 200 %: ${overflow}px`);
    await w.shot(s, '12-zoom-200');
    await s.executeAsync(
      "const done=arguments[arguments.length-1]; window.__TAURI_INTERNALS__.invoke('plugin:webview|set_webview_zoom', {value: 1}).then(()=>done(true), e=>done(String(e)));",
    );
    await s.cmd('POST', '/window/rect', { width: 800, height: 600 }).catch(() => {});
    await sleep(400);
    const o2 = await s.execute('return document.documentElement.scrollWidth - document.documentElement.clientWidth;');
    assert.ok(o2 <= 1, `horizontal overflow at 800×600: ${o2}px`);
    await w.shot(s, '13-800x600');
  });

  await t.test('sign out everywhere', async () => {
    await menuItem('Sign out ▾', 'everywhere');
    await w.answerDialog('Sign out of Grace Hopper everywhere?', 'Sign out everywhere', { shot: '14-sign-out-everywhere' });
    await seeText('Signed Grace Hopper out everywhere');
    // Alan is still signed in on this device (everywhere = Grace's sessions).
    await waitFor('Alan active', async () => (await headerName()) === 'Alan Turing');
    await menuItem('Sign out ▾', 'all accounts on this device');
    await w.answerDialog('Sign out of all accounts on this device?', 'Sign out all');
    await seeText('Continue in browser');
    assert.equal((await s.findAll('.account-item')).length, 0);
  });
});

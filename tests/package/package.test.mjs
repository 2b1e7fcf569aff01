// The .deb as a user gets it: installed with apt-get, its desktop entry
// valid and registered for dev.latchkey.desktop:// links (no per-user
// handler written), the installed app started cold through its entry with a
// link, a second link delivered by `gio open` to the running app (seen in
// the window over WebDriver), an upgrade in place while it runs, and a
// removal that leaves none of the package's files (user data stays). The
// .rpm is inspected, not installed. `make test-package` builds both.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { World, waitFor, ui, outDir } from '../e2e/harness.mjs';

const pkgDir = process.env.PKG_DIR;
const INSTALLED = '/usr/bin/latchkey-app';
const ENTRY = '/usr/share/applications/Latchkey.desktop';
const MIME = 'x-scheme-handler/dev.latchkey.desktop';

const only = (dir, ext) => {
  const d = path.join(pkgDir, dir);
  const f = fs.readdirSync(d).filter((n) => n.endsWith(ext));
  assert.equal(f.length, 1, `one ${ext} in ${d}: ${f}`);
  return path.join(d, f[0]);
};
const sudo = process.getuid() === 0 ? [] : ['sudo', '-n'];
function asRoot(cmd, args) {
  const all = [...sudo, cmd, ...args];
  return execFileSync(all[0], all.slice(1), {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
// The desktop starts it as `latchkey-app <link>` (found on PATH): by name.
const appRunning = () => spawnSync('pgrep', ['-x', 'latchkey-app']).status === 0;
const installedVersion = () => {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status} ${Version}', 'latchkey'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.startsWith('install ok installed') ? r.stdout.split(' ').pop() : null;
};

const w = new World({ app: INSTALLED, service: 'dev.latchkey.desktop.package-test' });
let s;
let listed = [];

before(async () => {
  if (!pkgDir) throw new Error('PKG_DIR is not set: run make test-package');
  if (installedVersion()) {
    throw new Error('latchkey is already installed on this machine; remove it first (apt-get remove latchkey)');
  }
  // Installed first: the world's app is the installed one.
  asRoot('apt-get', ['install', '-y', '--no-install-recommends', only('current/deb', '.deb')]);
  await w.start();
});

after(async () => {
  await w.closeApp().catch(() => {});
  spawnSync('pkill', ['-TERM', '-x', 'latchkey-app']);
  // Never leave the package behind, whatever failed.
  if (installedVersion()) asRoot('apt-get', ['remove', '-y', 'latchkey']);
  // Nor its record in dpkg (a removed package keeps one until purged).
  if (spawnSync('dpkg-query', ['-W', 'latchkey']).status === 0) asRoot('dpkg', ['--purge', 'latchkey']);
  await w.stop();
});

const { seeText, click } = ui(w, () => s);

/** POSTs the emulator answered on this path so far. */
async function posts(p) {
  const res = await fetch(`${w.emu.frontend_api_url}/__emulator/requests`, {
    headers: { authorization: `Bearer ${w.emu.secret_key}` },
  });
  return (await res.json()).filter((r) => r.method === 'POST' && r.path === p).length;
}

test('the Debian package', async (t) => {
  await t.test('installs with apt-get: the app, the CLI, icons, a valid desktop entry for the link scheme', async () => {
    assert.equal(installedVersion(), path.basename(only('current/deb', '.deb')).split('_')[1]);
    listed = execFileSync('dpkg', ['-L', 'latchkey'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of [INSTALLED, '/usr/bin/latchkey', ENTRY]) assert.ok(listed.includes(f), `${f} in the package`);
    for (const size of ['16x16', '24x24', '32x32', '48x48', '64x64', '128x128', '256x256', '512x512']) {
      assert.ok(fs.existsSync(`/usr/share/icons/hicolor/${size}/apps/latchkey-app.png`), `${size} icon`);
    }
    // The entry: valid, passes the link on, handles the scheme.
    const v = spawnSync('desktop-file-validate', [ENTRY], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.equal((v.stdout + v.stderr).trim(), '', 'no warnings or hints');
    const entry = fs.readFileSync(ENTRY, 'utf8');
    assert.match(entry, /^Exec=latchkey-app %u$/m);
    assert.match(entry, /^MimeType=x-scheme-handler\/dev\.latchkey\.desktop;$/m);
    assert.match(entry, /^Icon=latchkey-app$/m);
    // The maintainer script refreshed the desktop's handler cache.
    const cache = fs.readFileSync('/usr/share/applications/mimeinfo.cache', 'utf8');
    assert.match(cache, /^x-scheme-handler\/dev\.latchkey\.desktop=.*Latchkey\.desktop/m);
    const gio = execFileSync('gio', ['mime', MIME], { env: { ...w.env, LC_ALL: 'C' }, encoding: 'utf8' });
    assert.match(gio, /Latchkey\.desktop/, gio);
    const version = execFileSync('latchkey', ['--version'], { encoding: 'utf8' });
    assert.match(version, /^latchkey \d+\.\d+\.\d+/);
  });

  await t.test('starts cold through its desktop entry with a link, and writes no per-user handler', async () => {
    const before = await posts('/v1/client/sign_ins');
    const link = await w.demoHandoffLink('ada@example.com');
    // What the desktop does when a browser hands over the link.
    // (No pipes: the app inherits gio's output and would hold them open.)
    execFileSync('gio', ['launch', ENTRY, link], { env: w.env, stdio: 'ignore', timeout: 20_000 });
    await waitFor('the installed app running', appRunning, 20_000);
    await waitFor('the link redeemed (it reached the app intact)', async () => (await posts('/v1/client/sign_ins')) > before, 30_000);
    await waitFor('its window', () => w.appWindow({ visible: true }), 20_000);
    await waitFor('the handoff question painted', async () => {
      // The window's pixels: more than a blank page (the dialog is drawn).
      const out = execFileSync('import', ['-window', 'root', '-format', '%k', 'info:'], { env: w.env, encoding: 'utf8' });
      return Number(out.trim()) > 50;
    }, 20_000);
    execFileSync('import', ['-window', 'root', path.join(outDir, 'screenshots', 'package-cold-start.png')], { env: w.env });
    const userEntry = path.join(process.env.XDG_DATA_HOME, 'applications', 'latchkey-app-handler.desktop');
    assert.ok(!fs.existsSync(userEntry), 'no per-user handler for an installed app');
    const mimeapps = path.join(w.env.XDG_CONFIG_HOME, 'mimeapps.list');
    const list = fs.existsSync(mimeapps) ? fs.readFileSync(mimeapps, 'utf8') : '';
    assert.ok(!list.includes('latchkey-app-handler'), list);
    execFileSync('pkill', ['-TERM', '-x', 'latchkey-app']);
    await waitFor('it to quit', () => !appRunning(), 20_000);
  });

  await t.test('a second link, by gio open, reaches the running installed app', async () => {
    s = await w.openApp();
    await seeText('Continue in browser', 30_000);
    const link = await w.demoHandoffLink('grace@example.com');
    execFileSync('gio', ['open', link], { env: w.env, stdio: 'ignore', timeout: 20_000 });
    await seeText('Add Grace Hopper <grace@example.com> from Latchkey Demo?', 30_000);
    await click('Continue');
    await seeText('Added Grace Hopper');
  });

  await t.test('upgrades in place while it runs', async () => {
    const deb = only('next/deb', '.deb');
    const next = path.basename(deb).split('_')[1];
    asRoot('apt-get', ['install', '-y', '--no-install-recommends', deb]);
    assert.equal(installedVersion(), next);
    assert.ok(appRunning(), 'still running');
    // The running app still answers, and the upgraded binary, launched by
    // the next link, hands it over to the running one.
    const link = await w.demoHandoffLink('katherine@example.com');
    execFileSync('gio', ['open', link], { env: w.env, stdio: 'ignore', timeout: 20_000 });
    await seeText('Add Katherine Johnson <katherine@example.com> from Latchkey Demo?', 30_000);
    await click('Continue');
    await seeText('Added Katherine Johnson');
    listed = execFileSync('dpkg', ['-L', 'latchkey'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    await w.closeApp();
  });

  await t.test('removes cleanly: none of its files left, the user data kept', async () => {
    asRoot('apt-get', ['remove', '-y', 'latchkey']);
    assert.equal(installedVersion(), null);
    const left = listed.filter((f) => fs.existsSync(f) && !fs.statSync(f).isDirectory());
    assert.deepEqual(left, [], 'files the package listed are gone');
    const cache = fs.readFileSync('/usr/share/applications/mimeinfo.cache', 'utf8');
    assert.ok(!cache.includes('Latchkey.desktop'), 'the handler cache forgot it');
    // Removing the program is not forgetting the user's accounts.
    assert.ok(fs.existsSync(path.join(w.dataDir, 'cache.json')), 'data dir kept');
  });
});

test('the RPM package (inspected, not installed)', () => {
  const rpm = only('current/rpm', '.rpm');
  const files = execFileSync('rpm', ['-qpl', rpm], { encoding: 'utf8' }).split('\n');
  for (const f of [INSTALLED, '/usr/bin/latchkey', ENTRY, '/usr/share/icons/hicolor/512x512/apps/latchkey-app.png']) {
    assert.ok(files.includes(f), `${f} in the rpm`);
  }
  const requires = execFileSync('rpm', ['-qpR', rpm], { encoding: 'utf8' });
  assert.match(requires, /xdg-utils/);
  const scripts = execFileSync('rpm', ['-qp', '--scripts', rpm], { encoding: 'utf8' });
  assert.match(scripts, /postinstall[\s\S]*update-desktop-database/);
  const info = execFileSync('rpm', ['-qpi', rpm], { encoding: 'utf8' });
  assert.match(info, /^Name\s*:\s*latchkey$/im);
});

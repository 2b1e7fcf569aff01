// The world an end-to-end test runs in: a private X display with a
// notification server, the D-Bus session and unlocked keyring it was started
// in (tests/with-keyring.sh), the local Clerk emulator with 2-second tokens,
// a recording "browser", and tauri-driver in front of the built app.

import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from './webdriver.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
export const appBin = process.env.APP_BIN ?? path.join(targetDir, 'debug/latchkey-app');
export const emulatorBin = process.env.EMULATOR_BIN ?? path.join(targetDir, 'debug/clerk-emulator');
export const cliBin = path.join(targetDir, 'debug/latchkey');
export const outDir = process.env.E2E_OUT ?? path.join(targetDir, 'e2e');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; fails after `ms`. */
export async function waitFor(what, fn, ms = 20_000, every = 150) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** A child's exit code, or 'timeout' (and the child killed) after 20 s. */
function exitCode(p) {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve('timeout');
    }, 20_000);
    p.once('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class World {
  procs = [];
  runs = 0;

  /** `tokenLifetime`: seconds (the tests use 2 to see refresh quickly);
   * `emulatorArgs`: more flags for the emulator (`--single-session`, …). */
  /** `service`: the keychain service (each world its own: the test files
   * share one keyring session). */
  /** `ownKeyring`: a D-Bus session and keyring of this world's own (a test
   * that locks the keyring must not lock the other files' one). */
  /** `firstRun`: show the first-run screen (the other worlds start past it,
   * as if "Try the local demo" had been chosen). */
  /** `ownDataHome`: an XDG_DATA_HOME of this world's own (what the app
   * registers there — its link handler — stays out of the other files'). */
  constructor({ tokenLifetime = 2, app = appBin, emulatorArgs = [], service = 'dev.latchkey.desktop', ownKeyring = false, firstRun = false, ownDataHome = false } = {}) {
    this.ownDataHome = ownDataHome;
    this.ownKeyring = ownKeyring;
    this.firstRun = firstRun;
    this.tokenLifetime = tokenLifetime;
    this.app = app;
    this.emulatorArgs = emulatorArgs;
    this.service = service;
  }

  async start() {
    if (!process.env.DBUS_SESSION_BUS_ADDRESS || !process.env.LATCHKEY_IN_KEYRING_SESSION) {
      throw new Error('run inside tests/with-keyring.sh (a private D-Bus session with an unlocked keyring)');
    }
    for (const f of [this.app, emulatorBin]) {
      if (!fs.existsSync(f)) throw new Error(`${f} is missing: run make build-e2e first`);
    }
    fs.mkdirSync(path.join(outDir, 'screenshots'), { recursive: true });
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-e2e-'));
    this.home = path.join(this.tmp, 'home');
    this.dataDir = path.join(this.tmp, 'data');
    this.browserLog = path.join(this.tmp, 'browser.log');
    fs.mkdirSync(this.home, { recursive: true });
    if (!this.firstRun) {
      fs.mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(this.dataDir, 'settings.json'), '{"format": 2, "welcomed": true}', { mode: 0o600 });
    }
    fs.mkdirSync(path.join(this.home, '.config'), { recursive: true });
    fs.writeFileSync(this.browserLog, '');
    fs.writeFileSync(`${this.browserLog}.env`, '');

    // The "browser": records each URL it is asked to open.
    this.browser = path.join(this.tmp, 'browser.sh');
    // It also notes whether it inherited WebKit's compositing switch (the
    // app sets it for its own webview only).
    fs.writeFileSync(
      this.browser,
      `#!/bin/sh\nprintf '%s\\n' "\${WEBKIT_DISABLE_COMPOSITING_MODE-unset}" >> '${this.browserLog}.env'\nprintf '%s\\n' "$1" >> '${this.browserLog}'\n`,
      { mode: 0o755 },
    );

    this.display = await this.startXvfb();
    this.env = {
      ...process.env,
      DISPLAY: this.display,
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, '.config'),
      LATCHKEY_DATA_DIR: this.dataDir,
      LATCHKEY_KEYCHAIN_SERVICE: this.service,
      BROWSER: this.browser,
      // No GTK accessibility bus noise, no stray dbus-launch.
      NO_AT_BRIDGE: '1',
      RUST_LOG: 'info',
    };
    delete this.env.GTK_THEME;
    if (this.ownDataHome) {
      this.env.XDG_DATA_HOME = path.join(this.tmp, 'xdg-data');
      fs.mkdirSync(this.env.XDG_DATA_HOME, { recursive: true });
    }
    if (this.ownKeyring) await this.startKeyring();

    // A notification server on the test bus, and a monitor that records
    // every Notify call.
    // Its context menu ("dunstctl context": a notification's buttons) asks
    // this script, which picks the entry named in dunst-pick.
    this.dunstPick = path.join(this.tmp, 'dunst-pick');
    const picker = path.join(this.tmp, 'dunst-menu.sh');
    fs.writeFileSync(
      picker,
      `#!/bin/sh\ntee -a '${this.tmp}/dunst-menu.log' | grep -F -- "$(cat '${this.dunstPick}' 2>/dev/null)" | head -n 1\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(this.dunstPick, '');
    const dunstrc = path.join(this.tmp, 'dunstrc');
    fs.writeFileSync(dunstrc, `[global]\n    dmenu = ${picker}\n`);
    this.spawn('dunst', ['-config', dunstrc], { env: this.env });
    this.notifyLog = path.join(this.tmp, 'notify.log');
    this.spawn('dbus-monitor', ["interface='org.freedesktop.Notifications'"], {
      env: this.env,
      stdout: fs.openSync(this.notifyLog, 'w'),
    });

    this.emu = await this.startEmulator();
    return this;
  }

  spawn(cmd, args, { env, stdout, stderr } = {}) {
    const p = spawn(cmd, args, {
      env: env ?? this.env,
      stdio: ['ignore', stdout ?? 'ignore', stderr ?? 'pipe'],
    });
    p.stderrText = '';
    p.stderr?.on('data', (d) => {
      p.stderrText = (p.stderrText + d.toString()).slice(-20_000);
    });
    this.procs.push(p);
    return p;
  }

  /** A private session bus (whose activated services, like the keyring's
   * unlock prompt, draw on this display) with an unlocked gnome-keyring
   * whose password is `keyringPassword`. */
  async startKeyring() {
    this.keyringPassword = 'latchkey-test';
    const bus = this.spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdout: 'pipe' });
    const address = await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('dbus-daemon did not start within 10 s')), 10_000);
      createInterface({ input: bus.stdout }).once('line', (l) => {
        clearTimeout(t);
        resolve(l.trim());
      });
    });
    this.env.DBUS_SESSION_BUS_ADDRESS = address;
    execFileSync('dbus-update-activation-environment', [`DISPLAY=${this.display}`, `HOME=${this.home}`], { env: this.env });
    const keyringHome = path.join(this.tmp, 'keyring');
    fs.mkdirSync(keyringHome, { recursive: true });
    const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
      env: { ...this.env, XDG_DATA_HOME: keyringHome },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.procs.push(keyring);
    keyring.stdin.end(this.keyringPassword);
    await waitFor('the keyring on the bus', () => {
      try {
        return execFileSync('gdbus', ['call', '--session', '--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus', '--method', 'org.freedesktop.DBus.NameHasOwner', 'org.freedesktop.secrets'], { env: this.env, encoding: 'utf8' }).includes('true');
      } catch {
        return false;
      }
    }, 10_000);
  }

  /** A session bus with no services on it (none to activate either). */
  async emptyBus() {
    const conf = path.join(this.tmp, 'empty-bus.conf');
    fs.writeFileSync(conf, `<busconfig><type>session</type><listen>unix:tmpdir=${this.tmp}</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`);
    const bus = this.spawn('dbus-daemon', [`--config-file=${conf}`, '--nofork', '--print-address=1'], { stdout: 'pipe' });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('dbus-daemon did not start within 10 s')), 10_000);
      createInterface({ input: bus.stdout }).once('line', (l) => {
        clearTimeout(t);
        resolve(l.trim());
      });
    });
  }

  startXvfb() {
    return new Promise((resolve, reject) => {
      const p = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], {
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      });
      this.procs.push(p);
      const t = setTimeout(() => reject(new Error('Xvfb did not start within 10 s')), 10_000);
      p.stdio[3].once('data', (d) => {
        clearTimeout(t);
        resolve(`:${d.toString().trim()}`);
      });
      p.once('exit', (c) => reject(new Error(`Xvfb exited (${c})`)));
    });
  }

  async startEmulator() {
    const p = this.spawn(emulatorBin, [
      '--port', '0', '--seed', 'demo', '--json', '--token-lifetime', String(this.tokenLifetime),
      '--data-dir', path.join(this.dataDir, 'local-demo'),
      ...this.emulatorArgs,
    ], { stdout: 'pipe' });
    const lines = createInterface({ input: p.stdout });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('emulator did not start within 30 s')), 30_000);
      p.once('exit', (c) => reject(new Error(`emulator exited (${c}): ${p.stderrText}`)));
      lines.once('line', (l) => {
        clearTimeout(t);
        resolve(JSON.parse(l));
      });
    });
  }

  /** Starts tauri-driver (with extra env for the app) and a session on the app. */
  async openApp(extraEnv = {}, application = this.app, args = []) {
    if (this.driver) return this.newSession(application, args);
    const port = await freePort();
    const native = await freePort();
    const env = { ...this.env, ...extraEnv };
    // The app's own output (its log) lands here, for reading after a failure.
    this.appLog = path.join(outDir, `app-${this.service}-${++this.runs}.log`);
    const log = fs.openSync(this.appLog, 'w');
    this.driver = this.spawn('tauri-driver', ['--port', String(port), '--native-port', String(native)], {
      env,
      stdout: log,
      stderr: log,
    });
    this.base = `http://127.0.0.1:${port}`;
    await waitFor('tauri-driver', async () => (await fetch(`${this.base}/status`)).ok, 20_000);
    return this.newSession(application, args);
  }

  /** A WebDriver session on a fresh launch of `application` (driver running). */
  async newSession(application = this.app, args = []) {
    this.session = await Session.start(this.base, {
      'tauri:options': { application, args },
    });
    return this.session;
  }

  async closeApp() {
    await this.session?.quit();
    this.session = undefined;
    if (this.driver) {
      this.driver.kill('SIGTERM');
      await new Promise((r) => (this.driver.exitCode !== null ? r() : this.driver.once('exit', r)));
      this.driver = undefined;
    }
    // The app must be gone before the next start (single instance). Closing
    // its window ends it; on a loaded machine that can take a while, and a
    // SIGTERM is what a desktop session would send next.
    try {
      await waitFor('the app to exit', () => !isRunning(this.app), 20_000);
    } catch {
      try {
        execFileSync('pkill', ['-TERM', '-f', `^${this.app}`]);
      } catch {
        // gone meanwhile
      }
      await waitFor('the app to exit after SIGTERM', () => !isRunning(this.app), 10_000);
    }
  }

  /** Launches the app a second time with these arguments (single-instance
   * forwards them to the running one); resolves with its exit code. */
  secondLaunch(args, extraEnv = {}) {
    return exitCode(spawn(this.app, args, { env: { ...this.env, ...extraEnv }, stdio: 'ignore' }));
  }

  /** `xdg-open <url>`: the desktop's way, through the registered scheme.
   * Debian 12's xdg-utils needs to know the desktop to use gio underneath
   * (docs/DESIGN.md, "End-to-end tests"); real desktops set this themselves. */
  xdgOpen(url) {
    execFileSync('xdg-open', [url], {
      env: { ...this.env, XDG_CURRENT_DESKTOP: 'GNOME' },
      timeout: 20_000,
    });
  }

  /** A second launch whose argument is not valid UTF-8 (byte 0xff). */
  secondLaunchRaw() {
    return exitCode(
      spawn('/bin/sh', ['-c', `exec "$0" "$(printf 'x\\377y')"`, this.app], {
        env: this.env,
        stdio: 'ignore',
      }),
    );
  }

  browserUrls() {
    return fs.readFileSync(this.browserLog, 'utf8').split('\n').filter(Boolean);
  }

  /** What each browser start had for WEBKIT_DISABLE_COMPOSITING_MODE. */
  browserCompositingVar() {
    return fs.readFileSync(`${this.browserLog}.env`, 'utf8').split('\n').filter(Boolean);
  }

  async nextBrowserUrl(before) {
    return waitFor('the browser to be opened', () => {
      const u = this.browserUrls();
      return u.length > before ? u[u.length - 1] : null;
    });
  }

  async bapi(method, p, body) {
    const res = await fetch(`${this.emu.backend_api_url}${p}`, {
      method,
      headers: { authorization: `Bearer ${this.emu.secret_key}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status}`);
    return res.json();
  }

  /** Answers the native confirmation dialog Rust opens (GTK, drawn by
   * the OS outside the page): waits for the window titled `title`, gives
   * it the keyboard, and presses the go-ahead button by its mnemonic (Alt +
   * the first letter of `ok`, which Latchkey sets on Linux), or Escape for
   * no. Returns the dialog's screenshot file when `shot` is given. */
  async answerDialog(title, ok, { yes = true, shot } = {}) {
    const env = this.env;
    const run = (args) => execFileSync('xdotool', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const escaped = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const id = await waitFor(`the native dialog "${title}"`, () => {
      try {
        return run(['search', '--onlyvisible', '--name', `^${escaped}$`]).split('\n')[0] || null;
      } catch {
        return null;
      }
    });
    run(['windowfocus', '--sync', id]);
    await sleep(200);
    let file;
    if (shot) {
      file = path.join(outDir, 'screenshots', `${shot}.png`);
      execFileSync('import', ['-window', 'root', file], { env });
    }
    run(['key', '--clearmodifiers', yes ? `alt+${ok[0].toLowerCase()}` : 'Escape']);
    await waitFor(`the dialog "${title}" to close`, () => {
      try {
        return run(['search', '--onlyvisible', '--name', `^${escaped}$`]) === '';
      } catch {
        return true;
      }
    });
    return file;
  }

  /** The app's main window on the test display (`xdotool`), or null;
   * `visible`: only when it is shown. */
  appWindow({ visible = false } = {}) {
    try {
      const args = ['search', ...(visible ? ['--onlyvisible'] : []), '--name', '^Latchkey$'];
      const out = execFileSync('xdotool', args, { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return out.trim().split('\n').filter(Boolean)[0] ?? null;
    } catch {
      return null;
    }
  }

  /** Presses the window's close button, as a window manager would. */
  closeWindow(id) {
    execFileSync('python3', [path.join(here, 'close_window.py'), id], { env: this.env });
  }

  /** Token requests the emulator has answered (its request log). */
  async tokenRequests() {
    const res = await fetch(`${this.emu.frontend_api_url}/__emulator/requests`, {
      headers: { authorization: `Bearer ${this.emu.secret_key}` },
    });
    const log = await res.json();
    return log.filter((r) => /\/tokens$/.test(r.path)).length;
  }

  /** Moves the emulator's clock forward (its test controls). */
  async advanceClock(ms) {
    const res = await fetch(`${this.emu.frontend_api_url}/__emulator/clock`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.emu.secret_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ms }),
    });
    if (res.status !== 200) throw new Error(`the emulator's clock did not move (${res.status}): build it with test-controls`);
  }

  async userId(email) {
    const users = await this.bapi('GET', `/v1/users?email_address=${encodeURIComponent(email)}`);
    return users[0].id;
  }

  /** The browser on the emulator's hosted sign-in page: signs in with a
   * password and returns where the page sends the browser (the callback). */
  async hostedSignIn(pageUrl, identifier, password) {
    const page = await fetch(pageUrl);
    const html = await page.text();
    if (page.status !== 200 || !html.includes('name="password"')) {
      throw new Error(`unexpected sign-in page (${page.status})`);
    }
    const attempt = new URL(pageUrl).searchParams.get('attempt');
    const res = await fetch(new URL('/hosted/sign-in', pageUrl), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ attempt, identifier, password }),
    });
    if (res.status !== 303) throw new Error(`sign-in page answered ${res.status}: ${await res.text()}`);
    return res.headers.get('location');
  }

  /** The demo web app: sign in as `email`, then "Open in Latchkey". */
  async demoHandoffLink(email) {
    const base = this.emu.frontend_api_url;
    const signIn = await fetch(`${base}/demo/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user_id: await this.userId(email) }),
    });
    const cookie = signIn.headers.get('set-cookie')?.split(';')[0];
    if (!cookie) throw new Error('demo sign-in set no cookie');
    const res = await fetch(`${base}/demo/handoff`, { method: 'POST', redirect: 'manual', headers: { cookie } });
    if (res.status !== 303) throw new Error(`handoff answered ${res.status}`);
    return res.headers.get('location');
  }

  /** Chooses a button of the notifications on screen, through the
   * notification server (dunst's context menu): as a person's click. */
  chooseNotificationAction(label) {
    fs.writeFileSync(this.dunstPick, label);
    execFileSync('dunstctl', ['context'], { env: this.env, timeout: 10_000 });
  }

  notifications() {
    return fs.existsSync(this.notifyLog) ? fs.readFileSync(this.notifyLog, 'utf8') : '';
  }

  async shot(session, name) {
    const file = path.join(outDir, 'screenshots', `${name}.png`);
    // WebKit takes the snapshot at the page's next paint, and a page painted
    // without compositing (as the app paints) does not paint again while it
    // is still: one pixel of 0.4 % grey for half a second makes that paint.
    await session.execute(
      "setTimeout(() => { const d = document.createElement('div'); d.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;background:rgba(0,0,0,0.004);pointer-events:none'; document.body.append(d); setTimeout(() => d.remove(), 500); }, 50);",
    );
    fs.writeFileSync(file, await session.screenshot());
    return file;
  }

  // ------------------------------------------------ the app without WebDriver

  /** The running app's socket accepts a connection (the socket lives in the
   * data dir when the world has no XDG_RUNTIME_DIR: `noRuntimeDir()`). */
  socketAccepts() {
    return new Promise((resolve) => {
      const s = net.connect(path.join(this.dataDir, 'run', 'app.sock'));
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  /** The app's socket in the data dir, where a test finds it. */
  noRuntimeDir() {
    delete this.env.XDG_RUNTIME_DIR;
  }

  /** Starts the app hidden (no window), with a crash point or none, and
   * waits until it serves its socket; `exited` resolves with its end. */
  async startHidden(failpoint = null) {
    const env = { ...this.env };
    if (failpoint) env.LATCHKEY_FAILPOINT = failpoint;
    const p = this.spawn(this.app, ['--hidden'], { env });
    p.exited = new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));
    await waitFor('the app to serve its socket', () => this.socketAccepts(), 30_000);
    return p;
  }

  async stopHidden(p) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await p.exited;
  }

  /** `latchkey status --json` on this world's accounts (answered by the
   * running app over its socket, else read from the keychain). */
  cliStatus() {
    const r = spawnSync(cliBin, ['status', '--json'], { env: this.env, encoding: 'utf8', timeout: 30_000 });
    if (![0, 1].includes(r.status)) throw new Error(`latchkey status: ${r.status} ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** A sign-in through the browser, asked for by a second launch (as
   * `latchkey sign-in` does while the app runs). */
  async signInByLaunch(email, password) {
    const before = this.browserUrls().length;
    if ((await this.secondLaunch(['--sign-in', 'local'])) !== 0) throw new Error('the second launch failed');
    const page = await this.nextBrowserUrl(before);
    const callback = await this.hostedSignIn(page, email, password);
    return this.secondLaunch([callback]);
  }

  /** Adds a fault rule to the emulator (its test controls). */
  async addFault(rule) {
    const res = await fetch(`${this.emu.frontend_api_url}/__emulator/faults`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.emu.secret_key}`, 'content-type': 'application/json' },
      body: JSON.stringify(rule),
    });
    if (!res.ok) throw new Error(`fault not added (${res.status})`);
  }

  async clearFaults() {
    await fetch(`${this.emu.frontend_api_url}/__emulator/faults`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${this.emu.secret_key}` },
    });
  }

  /** The emulator's request log. */
  async requests() {
    const res = await fetch(`${this.emu.frontend_api_url}/__emulator/requests`, {
      headers: { authorization: `Bearer ${this.emu.secret_key}` },
    });
    return res.json();
  }

  /** The client credentials this world's keychain service holds (JWT-shaped
   * strings inside its entries), and the files under the data dir and home
   * that contain one (the emulator's own database in local-demo/ is
   * "Clerk's side" and is left out). */
  credentialsInFiles() {
    let found = '';
    try {
      found = execFileSync('secret-tool', ['search', '--all', 'service', this.service], {
        env: this.env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch {
      // nothing stored
    }
    const stored = [...new Set(found.match(/[\w-]{16,}\.[\w-]{16,}\.[\w-]{16,}/g) ?? [])];
    const files = [];
    for (const c of stored) {
      for (const dir of [this.dataDir, this.home]) {
        try {
          files.push(...execFileSync('grep', ['-rlF', '--exclude-dir=local-demo', c, dir], { encoding: 'utf8' }).split('\n').filter(Boolean));
        } catch {
          // grep: no match
        }
      }
    }
    return { entries: found, stored, files };
  }

  async stop() {
    if (!this.tmp) return;
    await this.session?.quit().catch(() => {});
    // Keep the app's log (tauri-plugin-log writes it under XDG_DATA_HOME,
    // which tests/with-keyring.sh removes).
    const logs = path.join(this.env.XDG_DATA_HOME ?? process.env.XDG_DATA_HOME ?? '', 'dev.latchkey.desktop', 'logs');
    const keep = this.ownDataHome ? path.join(outDir, 'logs', this.service) : path.join(outDir, 'logs');
    if (fs.existsSync(logs)) fs.cpSync(logs, keep, { recursive: true });
    for (const p of this.procs.reverse()) {
      if (p.exitCode === null) p.kill('SIGTERM');
    }
    await sleep(300);
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    try {
      execFileSync('pkill', ['-f', this.app]);
    } catch {
      // none left
    }
    if (!process.env.E2E_KEEP) fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** What a test does in the window: read, wait for, click, sign in. `session`
 * returns the current WebDriver session (it changes on a restart). */
export function ui(w, session) {
  const bodyText = () => session().text();
  const seeText = (text, ms) => waitFor(`"${text}" on screen`, async () => (await bodyText()).includes(text), ms);
  const noText = (text, ms) => waitFor(`"${text}" gone`, async () => !(await bodyText()).includes(text), ms);
  async function click(text) {
    const b = await waitFor(`a "${text}" button`, () => session().button(text));
    await b.click();
  }
  /** Opens the menu `trigger` and chooses `item` in it; opened again when
   * it is not open (a click that landed while the page was still laying out
   * its first frames). */
  async function menuItem(trigger, item) {
    await waitFor(`"${item}" in the "${trigger}" menu`, async () => {
      const found = await session().button(item);
      if (found) return found.click().then(() => true);
      const t = await session().button(trigger);
      if (t && (await t.attr('aria-expanded')) !== 'true') await t.click();
      return false;
    });
  }
  async function headerName() {
    const h = await session().find('.account-name');
    return h ? h.text() : null;
  }
  /** Sign in through the browser; `deliver` gets the callback URL. */
  async function signIn(identifier, password, deliver) {
    const before = w.browserUrls().length;
    await click('Continue in browser');
    const page = await w.nextBrowserUrl(before);
    if (!/^http:\/\/127\.0\.0\.1:\d+\/hosted\/sign-in\?/.test(page)) {
      throw new Error(`the browser was sent to ${page}, not the hosted page`);
    }
    await seeText('Finish signing in in your browser');
    await seeText('Time left');
    const callback = await w.hostedSignIn(page, identifier, password);
    if (!callback.startsWith('dev.latchkey.desktop://callback?')) {
      throw new Error(`the hosted page sent the browser to ${callback}`);
    }
    await deliver(callback);
    return callback;
  }
  const accountItems = () => session().findAll('.account-item');
  return { bodyText, seeText, noText, click, menuItem, headerName, signIn, accountItems };
}

export function isRunning(bin) {
  try {
    execFileSync('pgrep', ['-f', `^${bin}`]);
    return true;
  } catch {
    return false;
  }
}

/** The names of the threads of every process started from `bin` and of
 * their children (the WebKit processes), by process name. */
export function threadNames(bin) {
  const kids = new Map();
  const read = (f) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return null;
    }
  };
  for (const d of fs.readdirSync('/proc')) {
    const stat = /^\d+$/.test(d) && read(`/proc/${d}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    kids.set(ppid, [...(kids.get(ppid) ?? []), Number(d)]);
  }
  let roots = [];
  try {
    roots = execFileSync('pgrep', ['-f', `^${bin}`], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    // not running
  }
  const out = {};
  const walk = (pid) => {
    const comm = read(`/proc/${pid}/comm`)?.trim();
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    out[comm] = [...(out[comm] ?? []), ...tasks.map((t) => read(`/proc/${pid}/task/${t}/comm`)?.trim())];
    for (const k of kids.get(pid) ?? []) walk(k);
  };
  for (const r of roots) walk(r);
  return out;
}

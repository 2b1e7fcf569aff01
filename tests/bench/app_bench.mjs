// Latchkey vs a Tauri 2 hello-world, built and measured the same way in the
// same run, alternating (BENCH_RUNS runs each, default 15; every run is
// listed, with median and interquartile range): cold start to the painted
// account list, first launch of a fresh profile to the painted first view,
// memory (RSS and PSS) of the app and its WebKit processes, stripped release
// binary size (against the hello-world with every plugin Latchkey has);
// then the app's idle CPU over BENCH_IDLE_SECS (default 300), window shown
// and started hidden. Writes the results into docs/benchmarks.md between the
// app-bench markers (with BENCH_STRICT=1, exits non-zero when a figure
// misses its goal).
//
// Run by `make bench-app` (inside tests/with-keyring.sh, release builds).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { World, waitFor, sleep, root, freePort } from '../e2e/harness.mjs';
import { Session } from '../e2e/webdriver.mjs';

const target = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const app = path.join(target, 'release/latchkey-app');
const hello = path.join(target, 'release/hello-tauri');
// The same hello-world with only the plugins and tray the desktop issue
// requires (`--features required-plugins`): sized, not run.
const helloPlugins = path.join(target, 'release/hello-tauri-plugins');
const runs = Number(process.env.BENCH_RUNS ?? 15);
const idleSecs = Number(process.env.BENCH_IDLE_SECS ?? 300);
const tck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** The q-quantile of xs (linear interpolation between closest ranks). */
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.ceil(i)] - s[lo]) * (i - lo);
};
const median = (xs) => quantile(xs, 0.5);
const iqr = (xs) => [quantile(xs, 0.25), quantile(xs, 0.75)];

/** pid and every descendant of it. */
function tree(pid) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch {
      // gone
    }
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

function memory(pids) {
  let rss = 0;
  let pss = 0;
  const names = [];
  const pssBy = {};
  for (const p of pids) {
    try {
      const r = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      const name = fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      const one = Number(/^Pss:\s+(\d+)/m.exec(r)[1]);
      rss += Number(/^Rss:\s+(\d+)/m.exec(r)[1]);
      pss += one;
      pssBy[name] = (pssBy[name] ?? 0) + one / 1024;
      names.push(name);
    } catch {
      // gone
    }
  }
  return { rssMiB: rss / 1024, pssMiB: pss / 1024, names, pssBy };
}

/** CPU ticks (user + system) per process name. */
function cpuTicks(pids) {
  const by = {};
  for (const p of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      by[name] = (by[name] ?? 0) + Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return by;
}
const total = (by) => Object.values(by).reduce((a, b) => a + b, 0);

function appPid(bin) {
  const out = execFileSync('pgrep', ['-f', `^${bin}`], { encoding: 'utf8' }).trim().split('\n');
  return Number(out[0]);
}

/** A tauri-driver of our own, with `env` for the apps it launches. */
async function startDriver(env) {
  const port = await freePort();
  const native = await freePort();
  const driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(native)], { env, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('tauri-driver', async () => {
    try {
      return (await fetch(`${base}/status`)).ok;
    } catch {
      return false;
    }
  }, 20_000);
  return {
    base,
    stop: async () => {
      driver.kill('SIGTERM');
      await new Promise((r) => (driver.exitCode !== null ? r() : driver.once('exit', r)));
    },
  };
}

/** Launches `bin` through the driver and times it to two animation
 * frames after `painted` matches; then its memory, 3 s later. */
async function coldStart(driver, bin, painted = '.account-item') {
  const t0 = performance.now();
  const s = await Session.start(driver.base, { 'tauri:options': { application: bin, args: [] } });
  await waitFor('the first view painted', async () => (await s.findAll(painted)).length > 0, 60_000, 10);
  // Painted: the next animation frame after the list exists.
  await s.executeAsync('const done=arguments[arguments.length-1]; requestAnimationFrame(()=>requestAnimationFrame(()=>done(true)));');
  const ms = performance.now() - t0;
  await sleep(3000);
  const mem = memory(tree(appPid(bin)));
  await s.quit();
  await waitFor('exit', () => {
    try {
      execFileSync('pgrep', ['-f', `^${bin}`]);
      return false;
    } catch {
      return true;
    }
  }, 20_000);
  return { ms, mem };
}

const w = new World({ tokenLifetime: 60, app });
await w.start();
let failed = false;
try {
  // One account, signed in through the real flow, so the app paints a list.
  let s = await w.openApp();
  await waitFor('sign-in', async () => !!(await s.button('Continue in browser')), 60_000);
  const before = w.browserUrls().length;
  await (await s.button('Continue in browser')).click();
  const page = await w.nextBrowserUrl(before);
  const cb = await w.hostedSignIn(page, 'ada@example.com', 'analytical-engine');
  await w.secondLaunch([cb]);
  await waitFor('signed in', async () => (await s.findAll('.account-item')).length > 0);
  await s.quit();
  await sleep(1000);

  const driver = { base: w.base };
  const results = { app: [], hello: [] };
  for (let i = 0; i < runs; i++) {
    for (const [name, bin] of i % 2 ? [['hello', hello], ['app', app]] : [['app', app], ['hello', hello]]) {
      results[name].push(await coldStart(driver, bin));
    }
  }
  await w.closeApp().catch(() => {});

  // First launch of a fresh profile: every run starts from an empty home
  // (no data dir, no WebKit profile, no settings, nothing in the keychain
  // under this service); the app creates its local demo instance and shows
  // its first view (the first-run screen). The hello-world gets the same
  // empty home.
  const fresh = path.join(w.tmp, 'fresh');
  const service = 'dev.latchkey.bench-first-launch';
  const freshEnv = {
    ...w.env,
    HOME: path.join(fresh, 'home'),
    XDG_CONFIG_HOME: path.join(fresh, 'config'),
    XDG_DATA_HOME: path.join(fresh, 'data'),
    XDG_CACHE_HOME: path.join(fresh, 'cache'),
    LATCHKEY_DATA_DIR: path.join(fresh, 'latchkey'),
    LATCHKEY_KEYCHAIN_SERVICE: service,
  };
  const wipe = () => {
    fs.rmSync(fresh, { recursive: true, force: true });
    for (const d of ['home', 'config', 'data', 'cache']) fs.mkdirSync(path.join(fresh, d), { recursive: true });
    try {
      execFileSync('secret-tool', ['clear', 'service', service], { env: w.env, stdio: 'ignore' });
    } catch {
      // nothing stored
    }
  };
  const firstDriver = await startDriver(freshEnv);
  const first = { app: [], hello: [] };
  try {
    for (let i = 0; i < runs; i++) {
      for (const [name, bin, painted] of i % 2
        ? [['hello', hello, '.account-item'], ['app', app, '#welcome-title']]
        : [['app', app, '#welcome-title'], ['hello', hello, '.account-item']]) {
        wipe();
        first[name].push(await coldStart(firstDriver, bin, painted));
      }
    }
  } finally {
    await firstDriver.stop();
  }

  const size = (f) => fs.statSync(f).size / (1024 * 1024);

  // Idle CPU: the app on its own (no WebDriver), signed in; window open,
  // then started hidden (as at login: no window until asked for).
  const idle = async (args, bin = app) => {
    const proc = spawn(bin, args, { env: w.env, stdio: 'ignore' });
    await sleep(20_000);
    const c0 = cpuTicks(tree(proc.pid));
    const t0 = performance.now();
    await sleep(idleSecs * 1000);
    const c1 = cpuTicks(tree(proc.pid));
    const secs = (performance.now() - t0) / 1000;
    const pct = (ticks) => (ticks / tck / secs) * 100;
    const breakdown = Object.keys(c1)
      .map((n) => `${n} ${pct(c1[n] - (c0[n] ?? 0)).toFixed(2)} %`)
      .join(', ');
    const mem = memory(tree(proc.pid));
    proc.kill('SIGTERM');
    await waitFor('exit', () => proc.exitCode !== null || proc.signalCode !== null, 20_000);
    return { secs, pct: pct(total(c1) - total(c0)), breakdown, mem };
  };
  const shown = await idle([]);
  const hidden = await idle(['--hidden']);
  // The reference: the hello-world's window, shown, doing nothing (WebKit's
  // own idle cost, which no app can go below).
  const helloIdle = await idle([], hello);
  if (runs === 0) {
    console.log(`idle ${shown.secs.toFixed(0)} s: ${shown.pct.toFixed(2)} % (${shown.breakdown})`);
    console.log(`hello-world idle ${helloIdle.secs.toFixed(0)} s: ${helloIdle.pct.toFixed(2)} % (${helloIdle.breakdown})`);
    console.log(`idle hidden ${hidden.secs.toFixed(0)} s: ${hidden.pct.toFixed(2)} % (${hidden.breakdown}); PSS ${hidden.mem.pssMiB.toFixed(1)} MiB`);
    process.exit(0);
  }

  const goals = [];
  const judge = (ratioOrValue, limit, unit = '×') => {
    const ok = ratioOrValue <= limit;
    if (!ok) failed = true;
    goals.push(ok);
    return `≤ ${limit}${unit}: ${ok ? 'met' : '**NOT met**'}`;
  };
  const ms = (v) => v.toFixed(0);
  const mib = (v) => v.toFixed(1);
  const spread = (xs, f) => {
    const [q1, q3] = iqr(xs);
    return `${f(median(xs))} (IQR ${f(q1)}–${f(q3)})`;
  };
  const row = (what, av, hv, f, unit, limit) =>
    `| ${what} | ${spread(av, f)} ${unit} | ${spread(hv, f)} ${unit} | **${(median(av) / median(hv)).toFixed(2)}×** | ${judge(median(av) / median(hv), limit)} |`;
  const startMs = (rs) => rs.map((r) => r.ms);
  const pss = (rs) => rs.map((r) => r.mem.pssMiB);
  const rss = (rs) => rs.map((r) => r.mem.rssMiB);
  const byName = (rs) => {
    const names = Object.keys(rs[rs.length - 1].mem.pssBy);
    return names.map((n) => `${n} ${mib(median(rs.map((r) => r.mem.pssBy[n] ?? 0)))}`).join(', ');
  };
  const webkit = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libwebkit2gtk-4.1-0'], { encoding: 'utf8' });
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), Xvfb, WebKitGTK ${webkit}; release builds (stripped), ${runs} alternating runs of each, medians with the interquartile range.`,
    '',
    '| | Latchkey | reference | ratio | goal |',
    '|---|---|---|---|---|',
    row('cold start → painted account list (reference: Tauri hello-world)', startMs(results.app), startMs(results.hello), ms, 'ms', 1.2),
    row('first launch, fresh profile → painted first view (reference: hello-world, same empty home)', startMs(first.app), startMs(first.hello), ms, 'ms', 1.3),
    row('memory, PSS of app + WebKit processes (reference: hello-world)', pss(results.app), pss(results.hello), mib, 'MiB', 1.15),
    `| memory, RSS of the same | ${spread(rss(results.app), mib)} MiB | ${spread(rss(results.hello), mib)} MiB | ${(median(rss(results.app)) / median(rss(results.hello))).toFixed(2)}× | — |`,
    `| stripped release binary (reference: hello-world with every plugin Latchkey has) | ${mib(size(app))} MiB | ${mib(size(helloPlugins))} MiB | **${(size(app) / size(helloPlugins)).toFixed(2)}×** | ${judge(size(app) / size(helloPlugins), 1.5)} |`,
    `| idle CPU, signed in, 60 s tokens, window shown, ${shown.secs.toFixed(0)} s (reference: the hello-world's window, shown) | **${shown.pct.toFixed(2)} %** of a core | ${helloIdle.pct.toFixed(2)} % | ${(shown.pct / Math.max(helloIdle.pct, 0.001)).toFixed(2)}× | ${judge(shown.pct, 0.3, ' %')} |`,
    `| idle CPU, the same, started hidden (\`--hidden\`, as at login), ${hidden.secs.toFixed(0)} s | **${hidden.pct.toFixed(2)} %** of a core | — | — | ${judge(hidden.pct, 0.05, ' %')} |`,
    '',
    `Binary sizes: the plain hello-world is ${mib(size(hello))} MiB; with every plugin Latchkey has (single-instance with deep-link, deep-link, opener, notification and notify-rust, clipboard-manager, log, dialog, autostart, and the tray icon; \`tests/bench/hello --features required-plugins\`) ${mib(size(helloPlugins))} MiB, ${(size(helloPlugins) / size(hello)).toFixed(2)}× the plain one. Latchkey's own part (Clerk client, HTTPS, JWT verification, keychain, the embedded local Clerk, the UI assets) is the remaining ${mib(size(app) - size(helloPlugins))} MiB.`,
    '',
    `Idle CPU by process, shown: ${shown.breakdown}; hidden: ${hidden.breakdown} (PSS while hidden: ${mib(hidden.mem.pssMiB)} MiB); hello-world shown: ${helloIdle.breakdown}.`,
    '',
    `PSS by process (medians of the cold starts): Latchkey ${byName(results.app)}; hello-world ${byName(results.hello)} (MiB).`,
    '',
    `Cold starts, every run in order (ms): Latchkey ${results.app.map((r) => ms(r.ms)).join(', ')}; hello-world ${results.hello.map((r) => ms(r.ms)).join(', ')}.`,
    '',
    `First launches, every run in order (ms): Latchkey ${first.app.map((r) => ms(r.ms)).join(', ')}; hello-world ${first.hello.map((r) => ms(r.ms)).join(', ')}.`,
    '',
    'Start time is from the WebDriver "new session" request (tauri-driver launches the binary) to two animation frames after the view exists, the same for both; the hello-world\'s "list" is its one heading. Memory is read 3 s after that, over the app and every process under it.',
  ];
  const md = path.join(root, 'docs/benchmarks.md');
  let doc = fs.readFileSync(md, 'utf8');
  const start = '<!-- app-bench:start -->';
  const end = '<!-- app-bench:end -->';
  const block = `${start}\n${lines.join('\n')}\n${end}`;
  if (doc.includes(start)) {
    doc = doc.slice(0, doc.indexOf(start)) + block + doc.slice(doc.indexOf(end) + end.length);
  } else {
    doc += `\n## Desktop app vs a Tauri hello-world\n\nRegenerate: \`make bench-app\` (or \`make bench\`).\n\n${block}\n`;
  }
  fs.writeFileSync(md, doc);
  console.log(lines.join('\n'));
} finally {
  await w.stop();
}
if (failed && process.env.BENCH_STRICT === '1') {
  console.error('app bench: a figure missed its goal (see above)');
  process.exitCode = 1;
}

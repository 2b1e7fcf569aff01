// Latchkey vs a Tauri 2 hello-world, built and measured the same way in the
// same run: cold start to painted account list, memory (RSS and PSS) of the
// app and its WebKit processes, stripped release binary size; then the
// app's idle CPU over BENCH_IDLE_SECS (default 300). Writes the results
// into docs/benchmarks.md between the app-bench markers.
//
// Run by `make bench-app` (inside tests/with-keyring.sh, release builds).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { World, waitFor, sleep, root } from '../e2e/harness.mjs';

const target = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const app = path.join(target, 'release/latchkey-app');
const hello = path.join(target, 'release/hello-tauri');
// The same hello-world with only the plugins and tray the desktop issue
// requires (`--features required-plugins`): sized, not run.
const helloPlugins = path.join(target, 'release/hello-tauri-plugins');
const runs = Number(process.env.BENCH_RUNS ?? 7);
const idleSecs = Number(process.env.BENCH_IDLE_SECS ?? 300);
const tck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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
  for (const p of pids) {
    try {
      const r = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      rss += Number(/^Rss:\s+(\d+)/m.exec(r)[1]);
      pss += Number(/^Pss:\s+(\d+)/m.exec(r)[1]);
      names.push(fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim());
    } catch {
      // gone
    }
  }
  return { rssMiB: rss / 1024, pssMiB: pss / 1024, names };
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

async function coldStart(w, bin) {
  const t0 = performance.now();
  const s = await w.newSession(bin);
  await waitFor('the account list painted', async () => (await s.findAll('.account-item')).length > 0, 60_000, 10);
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

  const results = { app: [], hello: [] };
  for (let i = 0; i < runs; i++) {
    for (const [name, bin] of i % 2 ? [['hello', hello], ['app', app]] : [['app', app], ['hello', hello]]) {
      results[name].push(await coldStart(w, bin));
    }
  }
  const summary = (rs) => ({
    startMs: median(rs.map((r) => r.ms)),
    rssMiB: median(rs.map((r) => r.mem.rssMiB)),
    pssMiB: median(rs.map((r) => r.mem.pssMiB)),
    procs: rs[rs.length - 1].mem.names,
  });
  const size = (f) => fs.statSync(f).size / (1024 * 1024);

  // Idle CPU: the app on its own (no WebDriver), signed in; window open,
  // then started hidden (as at login: the webview has nothing to paint).
  await w.closeApp().catch(() => {});
  const idle = async (args) => {
    const proc = spawn(app, args, { env: w.env, stdio: 'ignore' });
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
    proc.kill('SIGTERM');
    await waitFor('exit', () => proc.exitCode !== null || proc.signalCode !== null, 20_000);
    return { secs, pct: pct(total(c1) - total(c0)), breakdown };
  };
  const shown = await idle([]);
  const hidden = await idle(['--hidden']);
  const { secs, pct: idlePct, breakdown } = shown;
  if (runs === 0) {
    console.log(`idle ${secs.toFixed(0)} s: ${idlePct.toFixed(2)} % (${breakdown})`);
    console.log(`idle hidden ${hidden.secs.toFixed(0)} s: ${hidden.pct.toFixed(2)} % (${hidden.breakdown})`);
    process.exit(0);
  }

  const a = summary(results.app);
  const h = summary(results.hello);
  const ratio = (x, y) => (x / y).toFixed(2);
  const row = (what, av, hv, unit, goal, fmt = (v) => v.toFixed(1)) =>
    `| ${what} | ${fmt(av)} ${unit} | ${fmt(hv)} ${unit} | ${ratio(av, hv)}× | ${goal} |`;
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores (${os.cpus()[0].model.trim()}), Xvfb, WebKitGTK ${execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libwebkit2gtk-4.1-0'], { encoding: 'utf8' })}; release builds, ${runs} alternating cold starts each, medians.`,
    '',
    '| | Latchkey | Tauri hello-world | ratio | goal |',
    '|---|---|---|---|---|',
    row('cold start → painted account list', a.startMs, h.startMs, 'ms', '≤ 1.5×', (v) => v.toFixed(0)),
    row('memory, RSS (app + WebKit processes)', a.rssMiB, h.rssMiB, 'MiB', '—'),
    row('memory, PSS (app + WebKit processes)', a.pssMiB, h.pssMiB, 'MiB', '≤ 1.3×'),
    row('stripped release binary', size(app), size(hello), 'MiB', '≤ 1.5×'),
    '',
    `Binary size, composed: the same hello-world with only the plugins and tray icon the desktop issue requires (single-instance with deep-link, deep-link, opener, notification, clipboard-manager, log; \`tests/bench/hello\` \`--features required-plugins\`) is **${size(helloPlugins).toFixed(1)} MiB, ${ratio(size(helloPlugins), size(hello))}× the hello-world** before any Latchkey code. Latchkey is ${ratio(size(app), size(helloPlugins))}× that build; its own code (Clerk client, HTTPS, JWT verification, keychain, the embedded local Clerk, the UI assets) is the remaining ${(size(app) - size(helloPlugins)).toFixed(1)} MiB.`,
    '',
    `Idle CPU, Latchkey signed in with 60 s tokens, window open, ${secs.toFixed(0)} s: **${idlePct.toFixed(2)} % of a core** (goal ≤ 0.5 %): ${breakdown}.`,
    '',
    `Idle CPU, the same, started hidden (\`--hidden\`, as at login), ${hidden.secs.toFixed(0)} s: **${hidden.pct.toFixed(2)} % of a core**: ${hidden.breakdown}.`,
    '',
    `Cold starts, every run in order (ms): Latchkey ${results.app.map((r) => r.ms.toFixed(0)).join(', ')}; hello-world ${results.hello.map((r) => r.ms.toFixed(0)).join(', ')}.`,
    '',
    `Processes counted: Latchkey ${a.procs.join(', ')}; hello-world ${h.procs.join(', ')}. Start time is from the WebDriver "new session" request (tauri-driver launches the binary) to two animation frames after the list exists, the same for both; the hello-world's "list" is its one heading.`,
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

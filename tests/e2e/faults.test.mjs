// The fault campaign through the app: the real app (started hidden, as at
// login, with 2-second tokens so it refreshes every ~1.4 s) while the
// emulator answers its token and client requests with one class of fault at
// a time for 6 s, while a script asks it for tokens (`latchkey token`, over
// its socket). Per class: faults injected, failed calls, accounts lost (0),
// sign-outs (0), recovery after (a token served by the app within 15 s). The app's
// logs are scanned for panics and tokens after the run (`scan_logs.mjs`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { World, waitFor, sleep, cliBin } from './harness.mjs';

const CLASSES = [
  ['offline (connection reset)', { kind: 'drop' }],
  ['503', { kind: 'status', status: 503, code: 'service_unavailable' }],
  ['429, Retry-After 3', { kind: 'status', status: 429, code: 'too_many_requests', retry_after: '3' }],
  ['HTML with 200', { kind: 'html200' }],
  ['truncated JSON', { kind: 'truncated_json' }],
  ['not JSON with 200', { kind: 'garbage200' }],
];

test('the app under each class of fault keeps its accounts and recovers', async () => {
  const w = new World({ service: 'dev.latchkey.desktop.e2e-faults', tokenLifetime: 2, ownDataHome: true });
  await w.start();
  w.noRuntimeDir();
  const rows = [];
  try {
    const app = await w.startHidden();
    assert.equal(await w.signInByLaunch('ada@example.com', 'analytical-engine'), 0);
    assert.equal(await w.signInByLaunch('grace@example.com', 'cobol-1959'), 0);
    await waitFor('two accounts', () => w.cliStatus().accounts.length === 2);
    const ids = () => w.cliStatus().accounts.map((a) => a.session_id).sort().join(',');
    const both = ids();
    for (const [name, action] of CLASSES) {
      const from = (await w.requests()).length;
      for (const p of ['/v1/client/sessions/*/tokens', '/v1/client']) await w.addFault({ path: p, action });
      const until = Date.now() + 6000;
      let lost = 0;
      let failed = 0;
      while (Date.now() < until) {
        if (ids() !== both) lost++;
        // A script asking for tokens meanwhile (2 s tokens: most calls need
        // a fresh one, which the fault refuses).
        const r = spawnSync(cliBin, ['token'], { env: w.env, encoding: 'utf8', timeout: 20_000 });
        if (r.status !== 0) failed++;
        await sleep(500);
      }
      await w.clearFaults();
      const injected = (await w.requests()).slice(from).filter((r) => r.fault).length;
      assert.ok(injected > 0, `${name}: nothing injected`);
      assert.equal(lost, 0, `${name}: an account went while the fault lasted`);
      // Recovered: the app hands out a token again (over its socket).
      await waitFor(`${name}: a token after the fault`, () => {
        const r = spawnSync(cliBin, ['token'], { env: w.env, encoding: 'utf8', timeout: 20_000 });
        return r.status === 0 && /^eyJ/.test(r.stdout.trim());
      }, 15_000, 500);
      assert.equal(ids(), both, `${name}: accounts after recovery`);
      rows.push(`| ${name} | ${injected} | ${failed} | 0 | 0 | yes |`);
    }
    assert.ok(!/signed out|was revoked/i.test(w.notifications()), 'no sign-out notice');
    await w.stopHidden(app);
  } finally {
    await w.stop();
  }
  console.log(
    `fault campaign through the app (6 s per class on the token and client paths, 2 s tokens):\n` +
      `| class | faults injected | failed \`latchkey token\` calls | accounts lost | sign-outs | recovered |\n|---|---|---|---|---|---|\n${rows.join('\n')}`,
  );
});

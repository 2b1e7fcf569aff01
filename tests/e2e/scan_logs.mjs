// The canary scan over the whole end-to-end run: every log the app wrote
// (its own log file, and what it printed under tauri-driver) in every test
// file, searched for anything shaped like a session token, a client
// credential or a handoff ticket (a signed JWT: three base64url parts) and
// for panics. Run by `make test-e2e` after the tests; exits 1 on a hit.

import fs from 'node:fs';
import path from 'node:path';
import { outDir } from './harness.mjs';

const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
const files = [];
const walk = (p) => {
  if (!fs.existsSync(p)) return;
  if (fs.statSync(p).isDirectory()) for (const f of fs.readdirSync(p)) walk(path.join(p, f));
  else files.push(p);
};
for (const f of fs.existsSync(outDir) ? fs.readdirSync(outDir) : []) {
  if (/^app-.*\.log$/.test(f)) files.push(path.join(outDir, f));
}
walk(path.join(outDir, 'logs'));

let bytes = 0;
const hits = [];
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  bytes += text.length;
  for (const m of text.match(JWT) ?? []) hits.push(`${path.relative(outDir, f)}: a token-shaped string (${m.length} chars)`);
  for (const line of text.split('\n')) if (line.includes('panicked at')) hits.push(`${path.relative(outDir, f)}: ${line.trim().slice(0, 200)}`);
}
console.log(`canary scan of the end-to-end run: ${files.length} app logs, ${bytes} bytes, ${hits.length} hits (token-shaped strings, panics)`);
if (files.length === 0 || bytes === 0) {
  console.error('no app log to scan: did the end-to-end tests run?');
  process.exit(1);
}
for (const h of hits) console.error(`  ${h}`);
process.exit(hits.length ? 1 : 0);

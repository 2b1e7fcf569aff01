// `node token.mjs setup|token`: Clerk's own SDK doing what `latchkey token`
// does, for `make bench` (tests/bench/cli_vs_clerkjs.py).
//   setup: sign in with a ticket, save the client credential to $CRED_FILE
//   token: restore the credential, load, print session.getToken()
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

globalThis.window = globalThis;
globalThis.navigator = { onLine: true };
const require = createRequire(import.meta.url);
const { Clerk } = require(path.join(path.dirname(require.resolve('@clerk/clerk-js')), 'clerk.native.js'));

const emu = JSON.parse(fs.readFileSync(process.env.EMU_JSON, 'utf8'));
const credFile = process.env.CRED_FILE;
let credential = fs.existsSync(credFile) ? fs.readFileSync(credFile, 'utf8') : '';
const clerk = new Clerk(emu.publishable_key);
const base = new URL(emu.frontend_api_url);
clerk.__internal_onBeforeRequest((req) => {
  req.url.protocol = base.protocol;
  req.url.host = base.host;
  req.credentials = 'omit';
  req.url.searchParams.append('_is_native', '1');
  req.headers.set('authorization', credential);
});
clerk.__internal_onAfterResponse((_req, res) => {
  const a = res?.headers?.get('authorization');
  if (a !== null && a !== undefined) credential = a;
});
await clerk.load({ standardBrowser: false, telemetry: false, unsafe_disableDevelopmentModeConsoleWarning: true });

if (process.argv[2] === 'setup') {
  const h = { authorization: `Bearer ${emu.secret_key}`, 'content-type': 'application/json' };
  const users = await (await fetch(`${emu.backend_api_url}/v1/users?email_address=ada@example.com`, { headers: h })).json();
  const t = await (await fetch(`${emu.backend_api_url}/v1/sign_in_tokens`, { method: 'POST', headers: h, body: JSON.stringify({ user_id: users[0].id, expires_in_seconds: 300 }) })).json();
  const si = await clerk.client.signIn.create({ strategy: 'ticket', ticket: t.token });
  await clerk.setActive({ session: si.createdSessionId });
  fs.writeFileSync(credFile, credential);
} else {
  process.stdout.write((await clerk.session.getToken()) + '\n');
}
process.exit(0);

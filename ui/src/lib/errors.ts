/**
 * The one table that maps each error kind to what the user reads and what
 * they can do. Components branch on `action`, never on message text.
 */
import type { ErrorKind, IpcError } from '../bindings/ipc';

export type Action =
  | 'retry' // try the same thing again
  | 'wait' // rate limited: show the countdown, then retry
  | 'sign_in' // the session is gone: sign in again
  | 'verify' // the instance wants a recent sign-in in the browser
  | 'finish' // the account has sign-in tasks to finish first
  | 'storage' // secure storage cannot be used: explain
  | 'offline' // keep showing the last known state, marked offline
  | 'dismiss'; // nothing to do but read it

export interface Explained {
  title: string;
  detail: string;
  action: Action;
  /** Seconds to wait before retrying (rate limits). */
  waitSecs?: number;
}

const table: Record<ErrorKind, { title: string; action: Action; hint?: string }> = {
  network: { title: 'You seem to be offline', action: 'offline', hint: 'Showing what was last known. Latchkey retries by itself.' },
  timeout: { title: 'Clerk did not answer in time', action: 'retry' },
  rate_limited: { title: 'Too many requests', action: 'wait', hint: 'Clerk asked us to slow down.' },
  server: { title: 'Clerk had a problem', action: 'retry', hint: 'This is usually brief.' },
  session_gone: { title: 'This account was signed out', action: 'sign_in', hint: 'Sign in again to keep using it.' },
  unauthenticated: { title: 'Signed out', action: 'sign_in', hint: 'Sign in again.' },
  reverification_required: {
    title: 'Confirm it is you',
    action: 'verify',
    hint: 'This needs a recent sign-in: sign in again in your browser, then retry.',
  },
  session_pending: {
    title: 'Finish signing in first',
    action: 'finish',
    hint: 'This account has a step left before it can be used.',
  },
  invalid_request: { title: 'Clerk refused the request', action: 'dismiss' },
  protocol: { title: 'Unexpected answer from Clerk', action: 'retry' },
  config: { title: 'Configuration problem', action: 'dismiss' },
  callback: { title: 'That link was not used', action: 'dismiss', hint: 'Nothing changed.' },
  sign_in: { title: 'Sign-in did not finish', action: 'retry' },
  invalid_token: { title: 'A token failed verification', action: 'retry' },
  forbidden: { title: 'Not allowed', action: 'dismiss' },
  storage_locked: {
    title: 'Your keyring is locked',
    action: 'storage',
    hint: 'Your sign-ins work for now but are not saved. Unlock your keyring (it may be asking for its password), then try again.',
  },
  storage_unavailable: {
    title: 'Secure storage is unavailable',
    action: 'storage',
    hint: 'Your sign-ins work for now but are not saved. Set up a keyring (Secret Service), then restart Latchkey.',
  },
  storage_failed: {
    title: 'Secure storage failed',
    action: 'storage',
    hint: 'Latchkey keeps trying to save your sign-in. If this stays, check your keyring.',
  },
  not_ready: { title: 'Still starting', action: 'retry' },
  browser: { title: 'No browser could be opened', action: 'dismiss', hint: 'Copy the link and open it yourself.' },
  bad_input: { title: 'Check what you entered', action: 'dismiss' },
  cancelled: { title: 'Cancelled', action: 'dismiss', hint: 'Nothing was done.' },
  internal: { title: 'Something went wrong', action: 'retry' },
};

export function explain(e: IpcError): Explained {
  const row = table[e.kind] ?? table.internal;
  const detail = row.hint ? `${capitalise(e.message)}. ${row.hint}` : capitalise(e.message);
  const out: Explained = { title: row.title, detail, action: row.action };
  if (row.action === 'wait') out.waitSecs = e.retryAfterSecs ?? 5;
  return out;
}

function capitalise(s: string): string {
  return s.length ? s[0].toUpperCase() + s.slice(1) : s;
}

/** Labels for the action buttons. */
export const actionLabel: Record<Action, string | null> = {
  retry: 'Try again',
  wait: 'Try again',
  sign_in: 'Sign in again',
  verify: 'Verify again in your browser',
  finish: 'Finish signing in',
  storage: null,
  offline: 'Retry now',
  dismiss: null,
};

import { describe, expect, it } from 'vitest';
import type { ErrorKind } from '../bindings/ipc';
import { actionLabel, explain } from './errors';

// A Record over the generated union: the type check fails when a kind is
// added in Rust and not listed here.
const every: Record<ErrorKind, true> = {
  network: true, timeout: true, rate_limited: true, server: true, session_gone: true,
  unauthenticated: true, reverification_required: true, session_pending: true, invalid_request: true, protocol: true,
  config: true, callback: true, sign_in: true, invalid_token: true, forbidden: true,
  storage_locked: true, storage_unavailable: true, storage_failed: true, not_ready: true,
  browser: true, bad_input: true, cancelled: true, internal: true,
};
const kinds = Object.keys(every) as ErrorKind[];

describe('the error table', () => {
  it('has a title and an action for every kind', () => {
    for (const kind of kinds) {
      const e = explain({ kind, message: 'boom' });
      expect(e.title.length, kind).toBeGreaterThan(3);
      expect(e.detail.startsWith('Boom'), kind).toBe(true);
      expect(Object.keys(actionLabel)).toContain(e.action);
    }
  });
  it('branches on the kind, not the text', () => {
    expect(explain({ kind: 'session_gone', message: 'x' }).action).toBe('sign_in');
    expect(explain({ kind: 'reverification_required', message: 'x' }).action).toBe('verify');
    expect(explain({ kind: 'session_pending', message: 'x' }).action).toBe('finish');
    expect(explain({ kind: 'network', message: 'x' }).action).toBe('offline');
    expect(explain({ kind: 'storage_unavailable', message: 'x' }).action).toBe('storage');
    expect(explain({ kind: 'storage_locked', message: 'x' }).action).toBe('storage');
    expect(explain({ kind: 'storage_failed', message: 'x' }).action).toBe('storage');
    expect(explain({ kind: 'retry' as ErrorKind, message: 'unknown kinds fall back' }).title).toBe(
      'Something went wrong',
    );
  });
  it('waits for Retry-After when rate limited', () => {
    expect(explain({ kind: 'rate_limited', message: 'x', retryAfterSecs: 17 }).waitSecs).toBe(17);
    expect(explain({ kind: 'rate_limited', message: 'x' }).waitSecs).toBe(5);
  });
});

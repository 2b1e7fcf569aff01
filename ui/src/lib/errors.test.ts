import { describe, expect, it } from 'vitest';
import type { ErrorKind } from '../bindings/ipc';
import { actionLabel, explain } from './errors';

const kinds: ErrorKind[] = [
  'network', 'timeout', 'rate_limited', 'server', 'session_gone', 'unauthenticated',
  'reverification_required', 'invalid_request', 'protocol', 'config', 'callback', 'sign_in',
  'invalid_token', 'forbidden', 'storage_unavailable', 'not_ready', 'browser', 'bad_input', 'internal',
];

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
    expect(explain({ kind: 'network', message: 'x' }).action).toBe('offline');
    expect(explain({ kind: 'storage_unavailable', message: 'x' }).action).toBe('storage');
    expect(explain({ kind: 'retry' as ErrorKind, message: 'unknown kinds fall back' }).title).toBe(
      'Something went wrong',
    );
  });
  it('waits for Retry-After when rate limited', () => {
    expect(explain({ kind: 'rate_limited', message: 'x', retryAfterSecs: 17 }).waitSecs).toBe(17);
    expect(explain({ kind: 'rate_limited', message: 'x' }).waitSecs).toBe(5);
  });
});

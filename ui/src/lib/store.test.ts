import { beforeEach, describe, expect, it, vi } from 'vitest';
import { account, snapshot } from '../test/fixtures';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({
  invoke: (...a: unknown[]) => invoke(...a),
  Channel: class {
    onmessage: (m: unknown) => void = () => {};
  },
}));

const { AppStore } = await import('./store.svelte');

describe('the store', () => {
  beforeEach(() => invoke.mockReset());

  it('groups accounts by instance and finds the active one', async () => {
    invoke.mockResolvedValue(
      snapshot([account('Ada Lovelace', 's1', { active: true }), account('Grace Hopper', 's2')]),
    );
    const s = new AppStore();
    await s.load();
    expect(s.active?.name).toBe('Ada Lovelace');
    expect(s.groups).toHaveLength(1);
    expect(s.groups[0].local).toBe(true);
    expect(s.groups[0].accounts.map((a) => a.name)).toEqual(['Ada Lovelace', 'Grace Hopper']);
    expect(s.showSignIn).toBe(false);
  });

  it('says once that a data file from a newer version was left alone', async () => {
    const m = 'settings.json was written by a newer version of Latchkey (format 9; …)';
    invoke.mockResolvedValue(snapshot([], { dataProblems: [m] }));
    const s = new AppStore();
    await s.load();
    await s.load();
    expect(s.notices.map((n) => [n.kind, n.text])).toEqual([['error', m]]);
  });

  it('shows sign-in when nobody is signed in', async () => {
    invoke.mockResolvedValue(snapshot([account('Ada Lovelace', 's1', { signedIn: false, status: 'revoked' })]));
    const s = new AppStore();
    await s.load();
    expect(s.showSignIn).toBe(true);
  });

  it('says what the quiet link check found, only when something was wrong', async () => {
    const s = new AppStore();
    await s.handle({
      type: 'link_check',
      result: { ok: false, repaired: true, problems: ['no application is set to open dev.latchkey.desktop:// links'], detail: 'Links still do not open Latchkey.' },
    });
    expect(s.notices[0].kind).toBe('error');
    expect(s.notices[0].text).toContain('no application is set');
    expect(s.notices[0].text).toContain('Check that links open Latchkey');
    await s.handle({
      type: 'link_check',
      result: { ok: true, repaired: true, problems: ['x.desktop does not pass the link on'], detail: 'Repaired.' },
    });
    expect(s.notices[0].kind).toBe('info');
  });

  it('turns a revocation into a notice and re-reads the state', async () => {
    invoke.mockResolvedValue(snapshot([]));
    const s = new AppStore();
    await s.handle({ type: 'session_revoked', key: { instanceId: 'i', sessionId: 's1' }, name: 'Ada Lovelace' });
    expect(s.notices[0].kind).toBe('revoked');
    expect(s.notices[0].text).toContain('Ada Lovelace was signed out');
    expect(invoke).toHaveBeenCalledWith('snapshot', {});
  });

  it('ticks every second in use, slower when idle, not at all when hidden', () => {
    const s = new AppStore();
    const now = 1_000_000;
    expect(s.tickEvery(now, now - 1000, false)).toBe(1000);
    expect(s.tickEvery(now, now - 31_000, false)).toBe(60_000);
    expect(s.tickEvery(now, now, true)).toBe(null);
  });

  it('shows token refreshes at once in use, and at the next tick when idle', async () => {
    const s = new AppStore();
    const key = { instanceId: 'i', sessionId: 's1' };
    await s.handle({ type: 'token_refreshed', key, expiresAtMs: 1000 });
    expect(s.tokenExpiry.s1).toBe(1000);
    s.idle = true;
    await s.handle({ type: 'token_refreshed', key, expiresAtMs: 2000 });
    await s.handle({ type: 'token_refreshed', key: { instanceId: 'i', sessionId: 's2' }, expiresAtMs: 3000 });
    expect(s.tokenExpiry).toEqual({ s1: 1000 });
    s.showDeferred();
    expect(s.tokenExpiry).toEqual({ s1: 2000, s2: 3000 });
    // Nothing waits twice.
    s.tokenExpiry = {};
    s.showDeferred();
    expect(s.tokenExpiry).toEqual({});
  });

  it('takes a pending handoff from Rust, not from a late event', async () => {
    const handoff = { instanceId: 'i', instanceName: 'Demo', name: 'Alan', becomesActive: false, alreadySignedIn: false, receivedAtMs: 1 };
    const s = new AppStore();
    s.handoffDone = { added: true } as unknown as typeof s.handoffDone;
    // Already answered: Rust has no pending handoff any more.
    invoke.mockResolvedValue(snapshot([]));
    await s.handle({ type: 'handoff_pending', handoff });
    expect(s.handoff).toBe(null);
    expect(s.handoffDone).toEqual({ added: true });
    // Still pending: asked.
    invoke.mockResolvedValue({ ...snapshot([]), handoff });
    await s.handle({ type: 'handoff_pending', handoff });
    expect(s.handoff).toEqual(handoff);
    expect(s.handoffDone).toBe(null);
  });

  it('lets good news expire and keeps problems', async () => {
    vi.useFakeTimers();
    const s = new AppStore();
    s.notify({ kind: 'success', text: 'ok' });
    s.notify({ kind: 'error', text: 'bad' });
    vi.advanceTimersByTime(8001);
    expect(s.notices.map((n) => n.text)).toEqual(['bad']);
    vi.useRealTimers();
  });

  it('asks about a new device with the session to revoke', async () => {
    const s = new AppStore();
    await s.handle({
      type: 'new_device',
      key: { instanceId: 'i', sessionId: 's1' },
      sessionId: 'sess_new',
      description: 'Chrome on Windows',
    });
    expect(s.notices[0]).toMatchObject({ kind: 'new_device', sessionId: 'sess_new' });
    expect(s.notices[0].text).toContain('Was this you?');
  });

  it('finishes a sign-in: success clears the waiting state, failure keeps the error', async () => {
    invoke.mockResolvedValue(snapshot([account('Ada Lovelace', 's1', { active: true })]));
    const s = new AppStore();
    s.addingAccount = true;
    await s.handle({ type: 'sign_in_finished', account: account('Ada Lovelace', 's1'), error: null });
    expect(s.addingAccount).toBe(false);
    expect(s.signIn).toBeNull();
    await s.handle({ type: 'sign_in_finished', account: null, error: { kind: 'sign_in', message: 'expired' } });
    expect(s.signInError?.kind).toBe('sign_in');
  });

  it('tracks token expiry and online state from events', async () => {
    invoke.mockResolvedValue(snapshot([]));
    const s = new AppStore();
    await s.load();
    await s.handle({ type: 'token_refreshed', key: { instanceId: 'i', sessionId: 's1' }, expiresAtMs: 123 });
    expect(s.tokenExpiry.s1).toBe(123);
    await s.handle({ type: 'online', online: false });
    expect(s.snap?.status.online).toBe(false);
  });

  it('reports a re-sign-in and the retried action', async () => {
    invoke.mockResolvedValue(snapshot([account('Ada Lovelace', 's3', { active: true })]));
    const s = new AppStore();
    s.signIn = { instanceId: 'i', strategy: null, url: 'u', startedAtMs: 0, expiresAtMs: 1, browserOpened: true, loopback: false, reverify: null, notice: null };
    await s.handle({
      type: 'reverified',
      kind: 'step_up',
      account: account('Ada Lovelace', 's3'),
      retried: { revoked: [{ sessionId: 's9', outcome: 'revoked', message: null }], everywhere: null, error: null },
    });
    expect(s.signIn).toBeNull();
    expect(s.notices.map((n) => n.text)).toEqual(['Signed the device out.', 'Ada Lovelace verified again.']);
    await s.handle({
      type: 'reverified',
      kind: 'step_up',
      account: null,
      retried: { revoked: [], everywhere: null, error: { kind: 'network', message: 'offline' } },
    });
    expect(s.notices[0]).toMatchObject({ kind: 'error', error: { kind: 'network' } });
  });

  it('follows a sign-in that continues in the browser', async () => {
    const s = new AppStore();
    s.signInError = { kind: 'sign_in', message: 'x' };
    const signIn = { instanceId: 'i', strategy: null, url: 'u', startedAtMs: 0, expiresAtMs: 1, browserOpened: true, loopback: false, reverify: null, notice: 'asks for your second factor' };
    await s.handle({ type: 'sign_in_continues', signIn });
    expect(s.signIn?.notice).toContain('second factor');
    expect(s.signInError).toBeNull();
  });

  it("compares Clerk's times with Clerk's clock", async () => {
    const snap = snapshot([]);
    snap.status.clockSkewSecs = 120;
    invoke.mockResolvedValue(snap);
    const s = new AppStore();
    await s.load();
    s.now = 1_000_000;
    expect(s.clerkNow).toBe(1_120_000);
  });

  it('keeps the three newest notices', () => {
    const s = new AppStore();
    for (const t of ['a', 'b', 'c', 'd']) s.notify({ kind: 'error', text: t });
    expect(s.notices.map((n) => n.text)).toEqual(['d', 'c', 'b']);
  });

  it('hears Rust over the channel it hands to subscribe, until it stops', async () => {
    const { onEvent } = await import('./ipc');
    invoke.mockResolvedValue(undefined);
    const seen: string[] = [];
    const stop = await onEvent((e) => seen.push(e.type));
    const [cmd, args] = invoke.mock.calls[0] as [string, { channel: { onmessage: (m: unknown) => void } }];
    expect(cmd).toBe('subscribe');
    args.channel.onmessage({ type: 'changed' });
    stop();
    args.channel.onmessage({ type: 'ready' });
    expect(seen).toEqual(['changed']);
  });
});

import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { account, snapshot } from '../test/fixtures';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...a: unknown[]) => invoke(...a) }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn(async () => () => {}) }));

const { store } = await import('../lib/store.svelte');
const ErrorBox = (await import('./ErrorBox.svelte')).default;
const Sidebar = (await import('./Sidebar.svelte')).default;
const SignIn = (await import('./SignIn.svelte')).default;
const DevicesView = (await import('./DevicesView.svelte')).default;
const RelTime = (await import('./RelTime.svelte')).default;

beforeEach(() => {
  invoke.mockReset();
  store.snap = null;
  store.signIn = null;
  store.notices = [];
  store.addingAccount = false;
});
afterEach(() => cleanup());

describe('ErrorBox', () => {
  it('shows the table entry for the kind and offers its action', async () => {
    const onsignin = vi.fn();
    render(ErrorBox, { error: { kind: 'session_gone', message: 'that account is not signed in' }, onsignin });
    expect(screen.getByRole('alert').textContent).toContain('This account was signed out');
    await fireEvent.click(screen.getByRole('button', { name: 'Sign in again' }));
    expect(onsignin).toHaveBeenCalledOnce();
  });
  it('makes a rate limit wait for Retry-After', () => {
    render(ErrorBox, { error: { kind: 'rate_limited', message: 'slow down', retryAfterSecs: 30 }, onretry: () => {} });
    const b = screen.getByRole('button') as HTMLButtonElement;
    expect(b.disabled).toBe(true);
    expect(b.textContent).toMatch(/^Wait 0:30$/);
  });
});

describe('RelTime', () => {
  it('is relative, with the exact time on hover', () => {
    const now = Date.now();
    const { container } = render(RelTime, { ms: now - 120_000, now });
    const t = container.querySelector('time')!;
    expect(t.textContent).toBe('2 min ago');
    expect(t.getAttribute('title')).toMatch(/\d/);
    expect(t.getAttribute('datetime')).toMatch(/^\d{4}-/);
  });
});

describe('Sidebar', () => {
  it('lists accounts by instance, marks the active one, switches on click', async () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { active: true }), account('Grace Hopper', 's2')]);
    invoke.mockResolvedValue(undefined);
    render(Sidebar);
    expect(screen.getByText('Local demo')).toBeTruthy();
    const ada = screen.getByRole('button', { name: /Ada Lovelace.*active account/ });
    expect(ada.getAttribute('aria-current')).toBe('true');
    await fireEvent.click(screen.getByRole('button', { name: /Grace Hopper/ }));
    expect(invoke).toHaveBeenCalledWith('switch_account', { key: { instanceId: 'ins_demo', sessionId: 's2' } });
  });
  it('marks an account whose details could not be refreshed, and keeps it', () => {
    store.snap = snapshot([
      account('Ada Lovelace', 's1', { active: true, problem: 'unexpected answer … at `response.sessions[0].id`' }),
    ]);
    render(Sidebar);
    const ada = screen.getByRole('button', { name: /Ada Lovelace.*details could not be refreshed/ });
    expect(ada.getAttribute('title')).toContain('sessions[0].id');
  });
  it('sends a signed-out account to sign-in instead of switching', async () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { signedIn: false, status: 'revoked' })]);
    render(Sidebar);
    await fireEvent.click(screen.getByRole('button', { name: /Ada Lovelace, .*signed out/ }));
    expect(store.addingAccount).toBe(true);
    expect(invoke).not.toHaveBeenCalledWith('switch_account', expect.anything());
  });
});

describe('SignIn', () => {
  it('offers the browser and each provider, then waits with cancel, reopen, copy and time left', async () => {
    store.snap = snapshot([]);
    store.now = Date.now();
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'sign_in_options') {
        return {
          instance: store.snap!.instances[0],
          providers: [{ strategy: 'oauth_google', name: 'Google' }],
        };
      }
      if (cmd === 'start_sign_in') {
        return {
          instanceId: 'ins_demo',
          strategy: null,
          url: 'http://127.0.0.1:1/hosted/sign-in?attempt=a',
          startedAtMs: Date.now(),
          expiresAtMs: Date.now() + 300_000,
          browserOpened: false,
        };
      }
      return true;
    });
    render(SignIn);
    await screen.findByRole('button', { name: 'Continue with Google' });
    await fireEvent.click(screen.getByRole('button', { name: 'Continue in browser' }));
    await screen.findByText('Finish signing in in your browser');
    expect(screen.getByText(/No browser could be opened/)).toBeTruthy();
    expect(screen.getByLabelText(/Time left/).textContent).toMatch(/^(4:59|5:00)$/);
    expect((screen.getByLabelText(/Sign-in link/) as HTMLInputElement).value).toContain('/hosted/sign-in');
    await fireEvent.click(screen.getByRole('button', { name: 'Copy link' }));
    expect(invoke).toHaveBeenCalledWith('copy_sign_in_link', {});
    await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await screen.findByText(/Sign-in cancelled/);
    expect(invoke).toHaveBeenCalledWith('cancel_sign_in', {});
  });
});

describe('SignIn without secure storage', () => {
  it('says what it means and what to do', async () => {
    const snap = snapshot([]);
    snap.status.storage = { state: 'unavailable', detail: 'no Secret Service', locked: true };
    store.snap = snap;
    invoke.mockResolvedValue({ instance: snap.instances[0], providers: [] });
    render(SignIn);
    const note = screen.getByRole('note');
    expect(note.textContent).toContain('Secure storage is unavailable: the keyring is locked');
    expect(note.textContent).toContain('will not remember it after you quit');
  });
});

describe('DevicesView', () => {
  it('puts this device first and asks before revoking another', async () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { active: true })]);
    const devices = [
      { sessionId: 's1', thisDevice: true, status: 'active', deviceType: 'Linux', isMobile: false, browserName: 'Latchkey', browserVersion: '0.1.0', ipAddress: '127.0.0.1', city: null, country: null, lastActiveAtMs: Date.now(), impersonated: false },
      { sessionId: 's9', thisDevice: false, status: 'active', deviceType: 'iPhone', isMobile: true, browserName: 'Safari', browserVersion: '18.1', ipAddress: '203.0.113.9', city: 'Berlin', country: 'DE', lastActiveAtMs: Date.now() - 720_000, impersonated: false },
    ];
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'devices') return devices;
      if (cmd === 'revoke_session') return { sessionId: 's9', outcome: 'revoked', message: null };
      return null;
    });
    render(DevicesView, { account: store.snap.accounts[0] });
    await screen.findByText('This device');
    const items = document.querySelectorAll('.device');
    expect(items[0].textContent).toContain('This device');
    expect(items[1].textContent).toContain('Safari 18.1 on iPhone');
    expect(items[1].textContent).toContain('Berlin, DE');
    expect(items[1].textContent).toContain('12 min ago');
    await fireEvent.click(screen.getByRole('button', { name: 'Sign out Safari 18.1 on iPhone' }));
    expect(screen.getByRole('dialog').textContent).toContain('Sign out this device?');
    expect(invoke).not.toHaveBeenCalledWith('revoke_session', expect.anything());
    await fireEvent.click(screen.getByRole('button', { name: 'Sign out device' }));
    await waitFor(() => expect(invoke).toHaveBeenCalledWith('revoke_session', { key: store.snap!.accounts[0].key, sessionId: 's9' }));
  });
});

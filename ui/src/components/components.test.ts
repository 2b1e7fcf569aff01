import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { account, snapshot } from '../test/fixtures';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({
  invoke: (...a: unknown[]) => invoke(...a),
  Channel: class {
    onmessage: (m: unknown) => void = () => {};
  },
}));

const { store } = await import('../lib/store.svelte');
const ErrorBox = (await import('./ErrorBox.svelte')).default;
const Sidebar = (await import('./Sidebar.svelte')).default;
const SignIn = (await import('./SignIn.svelte')).default;
const DevicesView = (await import('./DevicesView.svelte')).default;
const RelTime = (await import('./RelTime.svelte')).default;
const PendingView = (await import('./PendingView.svelte')).default;
const StorageNotice = (await import('./StorageNotice.svelte')).default;
const Welcome = (await import('./Welcome.svelte')).default;

beforeEach(() => {
  invoke.mockReset();
  store.snap = null;
  store.signIn = null;
  store.notices = [];
  store.addingAccount = false;
  store.signInInstance = null;
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
    // One "now" for the store's clock and the attempt's times, so a slow
    // machine cannot put a second between them.
    const t0 = Date.now();
    store.now = t0;
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
          startedAtMs: t0,
          expiresAtMs: t0 + 300_000,
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

describe('SignIn waiting: the link I copied', () => {
  it('asks Rust to read the clipboard (the page never sees the link) and shows a refusal', async () => {
    const snap = snapshot([]);
    store.snap = snap;
    store.signIn = {
      instanceId: 'ins_demo',
      strategy: null,
      url: 'http://127.0.0.1:1/hosted/sign-in?attempt=a',
      startedAtMs: Date.now(),
      expiresAtMs: Date.now() + 600_000,
      browserOpened: true,
      loopback: false,
      reverify: null,
      notice: null,
    };
    invoke.mockImplementation((cmd: string) =>
      cmd === 'use_copied_link'
        ? Promise.reject({ kind: 'bad_input', message: 'the clipboard holds no Latchkey link' })
        : Promise.resolve({ instance: snap.instances[0], providers: [] }),
    );
    render(SignIn);
    await fireEvent.click(screen.getByRole('button', { name: 'Use the link I copied' }));
    expect(invoke).toHaveBeenCalledWith('use_copied_link', {});
    expect((await screen.findByRole('alert')).textContent).toContain('The clipboard holds no Latchkey link');
  });
});

describe('SignIn without secure storage', () => {
  it('says what happens to this sign-in: saved later when locked, this run only when absent', async () => {
    const snap = snapshot([]);
    snap.status.storage = { state: 'unavailable', detail: 'the keyring is locked', locked: true, accountsWaiting: false };
    store.snap = snap;
    invoke.mockResolvedValue({ instance: snap.instances[0], providers: [] });
    render(SignIn);
    expect(screen.getByRole('note').textContent).toContain('saved once the keyring is unlocked');
    cleanup();
    store.snap = { ...snap, status: { ...snap.status, storage: { ...snap.status.storage, locked: false } } };
    render(SignIn);
    expect(screen.getByRole('note').textContent).toContain('lasts until you quit');
  });
});

describe('Sidebar with a locked keyring', () => {
  it('lists the saved accounts as locked (not signed out, not "No accounts yet"); a click switches nothing', async () => {
    const snap = snapshot([account('Ada Lovelace', 's1', { active: true, locked: true })]);
    snap.status.storage = { state: 'unavailable', detail: 'the keyring is locked', locked: true, accountsWaiting: true };
    store.snap = snap;
    render(Sidebar);
    const item = screen.getByRole('button', { name: /Ada Lovelace/ });
    expect(item.getAttribute('aria-label')).toContain('waiting for your keyring');
    expect(item.getAttribute('aria-label')).not.toContain('active account');
    expect(item.textContent).toContain('Locked in your keyring');
    expect(screen.queryByText('No accounts yet.')).toBeNull();
    await fireEvent.click(item);
    expect(invoke).not.toHaveBeenCalled();
    expect(store.active).toBeUndefined();
    expect(store.showSignIn).toBe(false);
  });
  it('with nothing cached, says the accounts are locked', () => {
    const snap = snapshot([]);
    snap.status.storage = { state: 'unavailable', detail: 'the keyring is locked', locked: true, accountsWaiting: false };
    store.snap = snap;
    render(Sidebar);
    expect(screen.getByText('Your accounts are locked in your keyring.')).toBeTruthy();
  });
});

describe('StorageNotice', () => {
  it('a locked keyring: the accounts wait for it, Unlock asks Rust, a dismissed prompt is said', async () => {
    const snap = snapshot([account('Ada Lovelace', 's1', { active: true, locked: true })]);
    snap.status.storage = { state: 'unavailable', detail: 'the keyring is locked: unlock it', locked: true, accountsWaiting: true };
    store.snap = snap;
    render(StorageNotice);
    const region = screen.getByRole('region', { name: 'Secure storage' });
    expect(region.textContent).toContain('Your accounts are locked in your keyring');
    expect(region.textContent).toContain('The keyring is locked: unlock it.');
    invoke.mockRejectedValueOnce({ kind: 'storage_locked', message: "the keyring's unlock prompt was dismissed: press Unlock to be asked again" });
    await fireEvent.click(screen.getByRole('button', { name: 'Unlock' }));
    expect(invoke).toHaveBeenCalledWith('unlock_keyring', {});
    expect((await screen.findByRole('alert')).textContent).toContain('prompt was dismissed');
  });
  it('no storage at all: sign-ins last until you quit, with the cause', () => {
    const snap = snapshot([]);
    snap.status.storage = { state: 'unavailable', detail: 'no Secret Service on the session bus', locked: false, accountsWaiting: false };
    store.snap = snap;
    render(StorageNotice, { full: true });
    const region = screen.getByRole('region', { name: 'Secure storage' });
    expect(region.textContent).toContain('No secure storage: sign-ins last until you quit');
    expect(region.textContent).toContain('No Secret Service on the session bus.');
    expect(region.textContent).toContain('latchkey doctor');
    expect(screen.queryByRole('button', { name: 'Unlock' })).toBeNull();
  });
  it('says nothing when storage is secure', () => {
    store.snap = snapshot([]);
    render(StorageNotice);
    expect(screen.queryByRole('region', { name: 'Secure storage' })).toBeNull();
  });
});

describe('DevicesView', () => {
  it('puts this device first and revokes another (Rust asks first)', async () => {
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
    // No page dialog: the question is Rust's (a native dialog), which the
    // page cannot answer for the user.
    await fireEvent.click(screen.getByRole('button', { name: 'Sign out Safari 18.1 on iPhone' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() => expect(invoke).toHaveBeenCalledWith('revoke_session', { key: store.snap!.accounts[0].key, sessionId: 's9' }));
  });
});

describe('DevicesView when the instance wants a recent verification', () => {
  it('offers "Verify again in your browser" and hands the refused action along', async () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { active: true })]);
    const devices = [
      { sessionId: 's1', thisDevice: true, status: 'active', deviceType: 'Linux', isMobile: false, browserName: 'Latchkey', browserVersion: '0.1.0', ipAddress: null, city: null, country: null, lastActiveAtMs: Date.now(), impersonated: false },
      { sessionId: 's9', thisDevice: false, status: 'active', deviceType: 'iPhone', isMobile: true, browserName: 'Safari', browserVersion: '18.1', ipAddress: null, city: null, country: null, lastActiveAtMs: Date.now(), impersonated: false },
    ];
    const waiting = { instanceId: 'ins_demo', strategy: null, url: 'http://127.0.0.1:1/hosted/sign-in?attempt=b', startedAtMs: Date.now(), expiresAtMs: Date.now() + 300_000, browserOpened: true, loopback: false, reverify: { kind: 'step_up', key: store.snap.accounts[0].key, name: 'Ada Lovelace', email: 'ada@example.com' }, notice: null };
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'devices') return devices;
      if (cmd === 'revoke_session') return { sessionId: 's9', outcome: 'reverification_required', message: 'verify first' };
      if (cmd === 'verify_again') return waiting;
      return null;
    });
    render(DevicesView, { account: store.snap.accounts[0] });
    await fireEvent.click(await screen.findByRole('button', { name: 'Sign out Safari 18.1 on iPhone' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Verify again in your browser' }));
    await waitFor(() =>
      expect(invoke).toHaveBeenCalledWith('verify_again', {
        key: store.snap!.accounts[0].key,
        then: { kind: 'revoke', sessionId: 's9' },
      }),
    );
    expect(store.signIn?.reverify?.kind).toBe('step_up');
  });
});

describe('SignIn while verifying an account again', () => {
  it('says whom to sign in as, and why the browser took over', async () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { active: true })]);
    store.now = Date.now();
    store.signIn = {
      instanceId: 'ins_demo',
      strategy: null,
      url: 'http://127.0.0.1:1/hosted/sign-in?attempt=c',
      startedAtMs: Date.now(),
      expiresAtMs: Date.now() + 300_000,
      browserOpened: true,
      loopback: false,
      reverify: { kind: 'step_up', key: store.snap.accounts[0].key, name: 'Ada Lovelace', email: 'ada@example.com' },
      notice: 'Google sign-in asks for your second factor. Continue in your browser as ada@example.com: the page there handles every step.',
    };
    invoke.mockResolvedValue({ instance: store.snap.instances[0], providers: [] });
    render(SignIn);
    expect(screen.getByRole('heading', { level: 1 }).textContent).toContain('Verify it is you');
    expect(screen.getByText('Verify again in your browser')).toBeTruthy();
    expect(screen.getByText('ada@example.com', { selector: 'strong' })).toBeTruthy();
    expect(screen.getByRole('note').textContent).toContain('asks for your second factor');
  });
});

describe('PendingView', () => {
  it('names what is left and activates the chosen organization', async () => {
    const ada = account('Ada Lovelace', 's1', { active: true, status: 'pending', tasks: ['choose_organization'] });
    store.snap = snapshot([ada]);
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'organizations') {
        return {
          memberships: [
            { id: 'org_1', name: 'Analytical Engines', slug: 'analytical-engines', role: 'org:admin', roleName: 'Admin' },
            { id: 'org_2', name: 'Harvard Mark I', slug: 'harvard-mark-i', role: 'org:member', roleName: 'Member' },
          ],
          active: null,
        };
      }
      if (cmd === 'snapshot') return store.snap;
      return null;
    });
    render(PendingView, { account: ada });
    expect(screen.getByText('choose an organization')).toBeTruthy();
    await fireEvent.click(await screen.findByLabelText(/Harvard Mark I/));
    await fireEvent.click(screen.getByRole('button', { name: 'Continue with this organization' }));
    await waitFor(() => expect(invoke).toHaveBeenCalledWith('switch_org', { key: ada.key, orgId: 'org_2' }));
    expect(screen.queryByRole('button', { name: 'Finish in browser' })).toBeNull();
  });

  it('sends tasks done on the instance\'s pages to the browser', async () => {
    const grace = account('Grace Hopper', 's2', { active: true, status: 'pending', tasks: ['reset_password'] });
    store.snap = snapshot([grace]);
    invoke.mockResolvedValue({ instanceId: 'ins_demo', strategy: null, url: 'http://127.0.0.1:1/hosted/sign-in?attempt=d', startedAtMs: Date.now(), expiresAtMs: Date.now() + 300_000, browserOpened: true, loopback: false, reverify: { kind: 'finish_sign_in', key: grace.key, name: 'Grace Hopper', email: 'grace@example.com' }, notice: null });
    render(PendingView, { account: grace });
    expect(screen.getByText('set a new password')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Finish in browser' }));
    await waitFor(() => expect(invoke).toHaveBeenCalledWith('finish_in_browser', { key: grace.key }));
    expect(store.signIn?.reverify?.kind).toBe('finish_sign_in');
  });
});

describe('Sidebar with a pending account', () => {
  it('says the account has not finished signing in', () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { active: true, status: 'pending', tasks: ['setup_mfa'] })]);
    render(Sidebar);
    const ada = screen.getByRole('button', { name: /Ada Lovelace.*not finished signing in: set up two-step verification/ });
    expect(ada.textContent).toContain('Finish signing in');
    expect(ada.getAttribute('title')).toBe('Finish signing in: set up two-step verification');
  });
});

describe('DevicesView when the user says no in the native dialog', () => {
  it('shows no error and changes nothing', async () => {
    store.snap = snapshot([account('Ada Lovelace', 's1', { active: true })]);
    const devices = [
      { sessionId: 's9', thisDevice: false, status: 'active', deviceType: 'iPhone', isMobile: true, browserName: 'Safari', browserVersion: '18.1', ipAddress: null, city: null, country: null, lastActiveAtMs: Date.now(), impersonated: false },
    ];
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'devices') return devices;
      if (cmd === 'revoke_session') throw { kind: 'cancelled', message: 'cancelled; nothing was done' };
      return null;
    });
    render(DevicesView, { account: store.snap.accounts[0] });
    await fireEvent.click(await screen.findByRole('button', { name: 'Sign out Safari 18.1 on iPhone' }));
    await waitFor(() => expect(invoke).toHaveBeenCalledWith('revoke_session', expect.anything()));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(document.querySelectorAll('.device').length).toBe(1);
  });
});

describe('Welcome (the first run)', () => {
  it('"Try the local demo" answers it and picks the demo instance for sign-in', async () => {
    store.snap = snapshot([], { firstRun: true });
    invoke.mockResolvedValue(null);
    render(Welcome);
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Welcome to Latchkey');
    await fireEvent.click(screen.getByRole('button', { name: 'Try the local demo' }));
    await waitFor(() => expect(store.snap?.firstRun).toBe(false));
    expect(invoke).toHaveBeenCalledWith('finish_welcome', {});
    expect(store.signInInstance).toBe(store.snap!.instances[0].id);
  });

  it('"Connect a Clerk app" adds the instance by its key; a refusal keeps the screen', async () => {
    store.snap = snapshot([], { firstRun: true });
    invoke.mockImplementation((cmd: string) =>
      cmd === 'add_instance'
        ? Promise.reject({ kind: 'config', message: 'the publishable key is not valid base64' })
        : Promise.resolve(null),
    );
    render(Welcome);
    const connect = screen.getByRole('button', { name: 'Connect' }) as HTMLButtonElement;
    expect(connect.disabled).toBe(true);
    await fireEvent.input(screen.getByLabelText(/publishable key/), { target: { value: ' pk_test_bad ' } });
    await fireEvent.click(connect);
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('not valid base64'));
    expect(invoke).toHaveBeenCalledWith('add_instance', { publishableKey: 'pk_test_bad' });
    expect(invoke).not.toHaveBeenCalledWith('finish_welcome', expect.anything());
    expect(store.snap?.firstRun).toBe(true);
  });
});

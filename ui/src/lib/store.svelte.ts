/**
 * The window's state: the last snapshot from Rust, plus what only the UI
 * tracks (the open view, banners, countdowns). Rust pushes changes as
 * `UiEvent`s; the store re-reads the snapshot when told something changed.
 */
import type {
  AccountKey,
  ForgetView,
  AccountView,
  GuardedView,
  HandoffDone,
  HandoffView,
  IpcError,
  RetriedView,
  SessionTaskView,
  SignInView,
  Snapshot,
  UiEvent,
} from '../bindings/ipc';
import { call, onEvent } from './ipc';

export type View = 'session' | 'organization' | 'devices' | 'settings';

export interface Notice {
  id: number;
  kind: 'revoked' | 'new_device' | 'error' | 'info' | 'success';
  text: string;
  /** For new-device notices: the session to revoke on "No". */
  key?: AccountKey;
  sessionId?: string;
  error?: IpcError;
}

export const sameKey = (a?: AccountKey | null, b?: AccountKey | null) =>
  !!a && !!b && a.instanceId === b.instanceId && a.sessionId === b.sessionId;

export class AppStore {
  snap = $state<Snapshot | null>(null);
  view = $state<View>('session');
  addingAccount = $state(false);
  signIn = $state<SignInView | null>(null);
  signInError = $state<IpcError | null>(null);
  handoff = $state<HandoffView | null>(null);
  handoffDone = $state<HandoffDone | null>(null);
  notices = $state<Notice[]>([]);
  /** The instance the sign-in view starts on (the first-run screen's choice). */
  signInInstance = $state<string | null>(null);
  private toldData = new Set<string>();
  /** "Forget everything" is done: the app is quitting. */
  forgotten = $state<ForgetView | null>(null);
  /** Token expiry by session id (from refresh events). */
  tokenExpiry = $state<Record<string, number>>({});
  now = $state(Date.now());
  /**
   * Nobody has used the window for a while (the clock ticks slowly): token
   * refreshes are noted but shown at the next tick, so an unwatched window
   * repaints once per tick instead of also after every refresh.
   */
  idle = $state(false);
  private deferredExpiry: Record<string, number> | null = null;
  private deferredRefreshMs: number | null = null;
  /** Bumped on every change so views re-read what they show. */
  version = $state(0);
  private nextId = 1;

  get accounts(): AccountView[] {
    return this.snap?.accounts ?? [];
  }

  /**
   * Now by Clerk's clock (the local clock plus the skew the engine measured
   * from Clerk's answers): what Clerk's own times (last active, expiry) are
   * compared with, so a skewed local clock does not show "in 2 min" for
   * something that just happened.
   */
  get clerkNow(): number {
    return this.now + (this.snap?.status.clockSkewSecs ?? 0) * 1000;
  }

  /** Saved accounts wait for secure storage (a locked keyring): the ones
   * marked `locked` are known from the last run and cannot be used yet. */
  get waiting(): boolean {
    return this.snap?.status.storage.accountsWaiting ?? false;
  }

  /** Signed-in accounts usable now (not waiting for the keyring). */
  get signedIn(): AccountView[] {
    return this.accounts.filter((a) => a.signedIn && !a.locked);
  }

  get active(): AccountView | undefined {
    return this.accounts.find((a) => a.active && a.signedIn && !a.locked);
  }

  /** Accounts grouped by instance, in the snapshot's order. */
  get groups(): { instanceId: string; name: string; local: boolean; accounts: AccountView[] }[] {
    const out: { instanceId: string; name: string; local: boolean; accounts: AccountView[] }[] = [];
    for (const a of this.accounts) {
      let g = out.find((x) => x.instanceId === a.key.instanceId);
      if (!g) {
        const inst = this.snap?.instances.find((i) => i.id === a.key.instanceId);
        g = {
          instanceId: a.key.instanceId,
          name: inst?.name ?? a.instanceName,
          local: (inst?.kind ?? a.instanceKind) === 'local_demo',
          accounts: [],
        };
        out.push(g);
      }
      g.accounts.push(a);
    }
    return out;
  }

  /** True when the sign-in screen is what the main area shows. */
  get showSignIn(): boolean {
    return this.addingAccount || !!this.signIn || (this.signedIn.length === 0 && !this.waiting);
  }

  async load(): Promise<void> {
    try {
      const s = await call('snapshot');
      this.snap = s;
      // A data file this version left alone (a newer version wrote it), once.
      for (const p of s.dataProblems) {
        if (this.toldData.has(p)) continue;
        this.toldData.add(p);
        this.notify({ kind: 'error', text: p });
      }
      this.signIn = s.signIn ?? null;
      if (s.handoff) this.handoff = s.handoff;
      this.version++;
    } catch (e) {
      this.notify({ kind: 'error', text: 'Could not read the current state', error: e as IpcError });
    }
  }

  /**
   * How often the clock ticks: every second while someone uses the window
   * (the token countdown is live), once a minute after 30 s without input
   * (relative times are in minutes; the countdown says "kept fresh"
   * instead of seconds, and token refreshes wait for the tick), and not at
   * all while the window is hidden (it ticks again when shown; Rust holds
   * the window's events meanwhile). Each tick repaints; an idle window that
   * repaints every second costs ~2 % of a core in WebKitGTK.
   */
  tickEvery(nowMs: number, lastInputMs: number, hidden: boolean): number | null {
    if (hidden) return null;
    if (this.signIn) return 1000;
    return nowMs - lastInputMs > 30_000 ? 60_000 : 1000;
  }

  async start(): Promise<() => void> {
    // Both at once: Rust holds events until the page listens, so nothing
    // is missed while the snapshot is read.
    const listening = onEvent((e) => void this.handle(e));
    const loaded = this.load();
    const unlisten = await listening;
    let lastInput = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      const every = this.tickEvery(Date.now(), lastInput, document.hidden);
      this.idle = every !== 1000;
      this.showDeferred();
      this.now = Date.now();
      timer = every === null ? undefined : setTimeout(tick, every);
    };
    const wake = () => {
      const every = this.tickEvery(Date.now(), lastInput, document.hidden);
      lastInput = Date.now();
      // Stopped (hidden) or slow: tick now, at the pace that applies now.
      if (timer === undefined || every === null || every > 1000) {
        clearTimeout(timer);
        tick();
      }
    };
    const inputs = ['pointermove', 'pointerdown', 'keydown', 'wheel', 'focus', 'visibilitychange'];
    for (const ev of inputs) window.addEventListener(ev, wake, { passive: true });
    tick();
    await loaded;
    return () => {
      unlisten();
      clearTimeout(timer);
      for (const ev of inputs) window.removeEventListener(ev, wake);
    };
  }

  notify(n: Omit<Notice, 'id'>): number {
    const id = this.nextId++;
    // Newest first; the oldest few are dropped so the view stays readable.
    this.notices = [{ ...n, id }, ...this.notices].slice(0, 3);
    // Good news goes away by itself; problems stay until dismissed.
    if (n.kind === 'success' || n.kind === 'info') setTimeout(() => this.dismiss(id), 8000);
    return id;
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }

  /**
   * "Verify again in your browser": a hosted sign-in for the same user,
   * whose new session replaces this one; `then` is retried once after.
   */
  async verifyAgain(key: AccountKey, then: GuardedView | null): Promise<void> {
    try {
      this.signInError = null;
      this.signIn = await call('verify_again', { key, then });
    } catch (e) {
      this.notify({ kind: 'error', text: 'Could not start verifying', error: e as IpcError });
    }
  }

  /** "Finish in browser" for a pending account. */
  async finishInBrowser(key: AccountKey): Promise<void> {
    try {
      this.signInError = null;
      this.signIn = await call('finish_in_browser', { key });
    } catch (e) {
      this.notify({ kind: 'error', text: 'Could not continue signing in', error: e as IpcError });
    }
  }

  /** Shows the token refreshes noted while idle (at a tick, or on input). */
  showDeferred(): void {
    if (this.deferredExpiry) this.tokenExpiry = { ...this.tokenExpiry, ...this.deferredExpiry };
    if (this.deferredRefreshMs !== null && this.snap) this.snap.status.lastRefreshMs = this.deferredRefreshMs;
    this.deferredExpiry = null;
    this.deferredRefreshMs = null;
  }

  async handle(e: UiEvent): Promise<void> {
    switch (e.type) {
      case 'ready':
      case 'changed':
        await this.load();
        break;
      case 'token_refreshed':
        if (this.idle) {
          this.deferredExpiry = { ...this.deferredExpiry, [e.key.sessionId]: e.expiresAtMs };
          this.deferredRefreshMs = Date.now();
          break;
        }
        this.tokenExpiry = { ...this.tokenExpiry, [e.key.sessionId]: e.expiresAtMs };
        if (this.snap) this.snap.status.lastRefreshMs = Date.now();
        break;
      case 'session_revoked':
        this.notify({
          kind: 'revoked',
          text: `${e.name} was signed out: the session was revoked from another device.`,
          key: e.key,
        });
        await this.load();
        break;
      case 'new_device':
        this.notify({
          kind: 'new_device',
          text: `New sign-in: ${e.description}. Was this you?`,
          key: e.key,
          sessionId: e.sessionId,
        });
        break;
      case 'online':
        if (this.snap) this.snap.status.online = e.online;
        break;
      case 'sign_in_finished':
        this.signIn = null;
        if (e.account) {
          this.addingAccount = false;
          this.signInError = null;
          this.view = 'session';
          this.notify({ kind: 'success', text: `Signed in as ${e.account.name}.` });
        } else if (e.error) {
          this.signInError = e.error;
        }
        await this.load();
        break;
      case 'handoff_pending':
        // Asked of Rust, not taken from the event: an event that waited
        // for this page (a cold start by a link) may come after the
        // handoff was already answered.
        await this.load();
        if (this.snap?.handoff) {
          this.handoff = this.snap.handoff;
          this.handoffDone = null;
        }
        break;
      case 'reverified':
        this.signIn = null;
        this.signInError = null;
        if (e.account) {
          this.notify({
            kind: 'success',
            text:
              e.kind === 'finish_sign_in'
                ? `${e.account.name} finished signing in.`
                : `${e.account.name} verified again.`,
          });
        }
        if (e.retried) this.reportRetried(e.retried);
        await this.load();
        break;
      case 'sign_in_continues':
        this.signIn = e.signIn;
        this.signInError = null;
        break;
      case 'link_rejected':
        this.notify({ kind: 'error', text: 'A link was not used', error: e.error });
        break;
      case 'link_check':
        // Only said when something was wrong (the first run checks quietly).
        this.notify(
          e.result.ok
            ? { kind: 'info', text: `${e.result.detail} What was wrong: ${e.result.problems.join('; ')}.` }
            : {
                kind: 'error',
                text: `${e.result.detail} What is wrong: ${e.result.problems.join('; ')}. Settings → “Check that links open Latchkey” tries again.`,
              },
        );
        break;
    }
  }

  /** Says how the action retried after verifying again went. */
  reportRetried(r: RetriedView): void {
    if (r.error) {
      this.notify({ kind: 'error', text: 'The action did not finish after verifying', error: r.error });
    } else if (r.everywhere) {
      const ev = r.everywhere;
      this.notify(
        ev.done
          ? { kind: 'success', text: `Signed out everywhere: ${ev.revoked} other session(s) and this device.` }
          : { kind: 'error', text: `Some sessions could not be signed out (${ev.failed.length}); this device stays signed in.` },
      );
    } else {
      const ok = r.revoked.filter((x) => x.outcome === 'revoked').length;
      const failed = r.revoked.length - ok;
      this.notify(
        failed === 0
          ? { kind: 'success', text: ok === 1 ? 'Signed the device out.' : `Signed out ${ok} device(s).` }
          : { kind: 'error', text: `Signed out ${ok} device(s); ${failed} could not be signed out.` },
      );
    }
  }
}

/** What a pending session's task asks of the user, in words. */
export function taskWords(t: SessionTaskView): string {
  switch (t) {
    case 'choose_organization':
      return 'choose an organization';
    case 'reset_password':
      return 'set a new password';
    case 'setup_mfa':
      return 'set up two-step verification';
    default:
      return 'finish a step this version of Latchkey does not know';
  }
}

/** What a pending account has left, in words ("choose an organization"). */
export function pendingWords(a: AccountView): string {
  return (a.tasks.length ? a.tasks : (['unknown'] as const)).map(taskWords).join(', then ');
}

export const store = new AppStore();

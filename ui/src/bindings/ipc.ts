// Generated from src-tauri by ts-rs (`make bindings`). Do not edit.

export type ErrorKind = "network" | "timeout" | "rate_limited" | "server" | "session_gone" | "unauthenticated" | "reverification_required" | "session_pending" | "invalid_request" | "protocol" | "config" | "callback" | "sign_in" | "invalid_token" | "forbidden" | "storage_locked" | "storage_unavailable" | "storage_failed" | "not_ready" | "browser" | "bad_input" | "cancelled" | "internal";

export type IpcError = { kind: ErrorKind, message: string, 
/**
 * For `rate_limited`: how long to wait, when the server said.
 */
retryAfterSecs?: number | null, };

export type AccountKey = { instanceId: string, sessionId: string, };

export type InstanceKindView = "clerk" | "local_demo";

export type InstanceView = { id: string, kind: InstanceKindView, 
/**
 * The application name (from the environment) or the host.
 */
name: string, frontendApi: string, };

export type SessionStatusView = "active" | "pending" | "ended" | "removed" | "revoked" | "expired" | "abandoned" | "replaced" | "unknown";

export type SessionTaskView = "choose_organization" | "reset_password" | "setup_mfa" | "unknown";

export type AccountView = { key: AccountKey, userId?: string | null, name: string, email?: string | null, initials: string, 
/**
 * A `data:` URL fetched by Rust (size-capped), or none: show initials.
 */
avatar?: string | null, active: boolean, status: SessionStatusView, 
/**
 * What a `pending` session has left to do (empty otherwise).
 */
tasks: Array<SessionTaskView>, signedIn: boolean, activeOrgId?: string | null, instanceName: string, instanceKind: InstanceKindView, 
/**
 * Why the account's details could not be refreshed (an answer that did
 * not parse, say); it is kept meanwhile.
 */
problem?: string | null, 
/**
 * Known from the last run, its saved sign-in waiting for secure
 * storage (a locked keyring): listed, not usable yet.
 */
locked: boolean, };

export type StorageStateView = "unknown" | "secure" | "unavailable" | "save_failed";

export type StorageView = { state: StorageStateView, 
/**
 * The backend (`Secret Service`, …) or the reason it failed.
 */
detail: string, locked: boolean, 
/**
 * The saved accounts could not be read yet: the ones listed (from the
 * display cache) wait for secure storage and cannot be used until then.
 */
accountsWaiting: boolean, };

export type LinkCheckView = { 
/**
 * Links reach Latchkey now.
 */
ok: boolean, 
/**
 * The registration was repaired for this user on the way.
 */
repaired: boolean, 
/**
 * What was wrong before (empty: nothing).
 */
problems: Array<string>, 
/**
 * One sentence for the window.
 */
detail: string, };

export type ForgetView = { 
/**
 * What could not be done, in words (empty: all of it).
 */
problems: Array<string>, };

export type StatusView = { online: boolean, lastRefreshMs?: number | null, storage: StorageView, 
/**
 * Clerk's clock minus ours, seconds.
 */
clockSkewSecs: number, };

export type ReverifyKind = "finish_sign_in" | "step_up";

export type ReverifyView = { kind: ReverifyKind, key: AccountKey, name: string, email?: string | null, };

export type SignInView = { instanceId: string, 
/**
 * `oauth_google`, … or none for "Continue in browser".
 */
strategy?: string | null, 
/**
 * The page the browser opened: no secret in it, safe to show and copy.
 */
url: string, startedAtMs: number, expiresAtMs: number, browserOpened: boolean, 
/**
 * The callback comes to a one-time loopback address, not the app link.
 */
loopback: boolean, 
/**
 * Set when an account is signed in again (to finish a pending
 * session, or to verify before an action).
 */
reverify?: ReverifyView | null, 
/**
 * Why this sign-in continues in the browser, when an earlier step
 * stopped short (a second factor, trust in a new device).
 */
notice?: string | null, };

export type GuardedView = { "kind": "revoke", sessionId: string, } | { "kind": "sign_out_other_devices" } | { "kind": "sign_out_everywhere", force: boolean, };

export type HandoffView = { instanceId: string, instanceName: string, name?: string | null, email?: string | null, 
/**
 * No account was active: this one will be.
 */
becomesActive: boolean, 
/**
 * That user is signed in here already: Continue switches to them.
 */
alreadySignedIn: boolean, 
/**
 * The link needs more than it gives (what Clerk asked for, in words):
 * Continue goes on in the browser.
 */
needs?: string | null, receivedAtMs: number, };

export type Snapshot = { 
/**
 * False while the engine starts (or if it could not: see `startupError`).
 */
ready: boolean, startupError?: IpcError | null, instances: Array<InstanceView>, accounts: Array<AccountView>, active?: AccountKey | null, status: StatusView, signIn?: SignInView | null, handoff?: HandoffView | null, version: string, 
/**
 * Data files this run could not use (written by a newer version of
 * Latchkey — left as they are — or broken), in words.
 */
dataProblems: Array<string>, 
/**
 * Nobody has signed in here yet and the first-run screen was not
 * answered: show it.
 */
firstRun: boolean, };

export type ProviderView = { strategy: string, name: string, };

export type SignInOptions = { instance: InstanceView, providers: Array<ProviderView>, };

export type HandoffDone = { 
/**
 * The account the link added (or that was there already); none when
 * the sign-in continues in the browser.
 */
account?: AccountView | null, 
/**
 * False: that user was already signed in here (nothing to undo).
 */
added: boolean, 
/**
 * The instance wanted more than the link gives: hosted sign-in
 * started in the browser.
 */
continued?: SignInView | null, };

export type OrgView = { id: string, name: string, slug?: string | null, 
/**
 * `org:admin`, …
 */
role: string, roleName: string, };

export type ActiveOrgView = { id: string, slug?: string | null, name?: string | null, 
/**
 * From the token's `o.rol`, as `org:<role>`.
 */
role: string, 
/**
 * Decoded from `o.per`/`o.fpm` and `fea`.
 */
permissions: Array<string>, isAdmin: boolean, };

export type OrgState = { memberships: Array<OrgView>, active?: ActiveOrgView | null, };

export type MemberView = { name: string, identifier: string, role: string, roleName: string, initials: string, };

export type ActorView = { 
/**
 * The actor's user id (`sub`).
 */
subject: string, issuer?: string | null, };

export type DetailsView = { key: AccountKey, sessionId: string, status: SessionStatusView, createdAtMs?: number | null, lastActiveAtMs?: number | null, expireAtMs?: number | null, abandonAtMs?: number | null, tokenExpiresAtMs?: number | null, claims: Record<string, unknown> | null, 
/**
 * Minutes since the first and second factor were verified (-1: never).
 */
factorVerificationAge?: Array<number> | null, actor?: ActorView | null, templates: Array<string>, };

export type DeviceView = { sessionId: string, thisDevice: boolean, status: SessionStatusView, 
/**
 * `Macintosh`, `iPhone`, `Windows`, … (Clerk's `device_type`; it names
 * the OS family too).
 */
deviceType?: string | null, isMobile: boolean, browserName?: string | null, browserVersion?: string | null, ipAddress?: string | null, city?: string | null, country?: string | null, lastActiveAtMs?: number | null, impersonated: boolean, };

export type RevokeOutcomeView = "revoked" | "reverification_required" | "failed";

export type RevokeView = { sessionId: string, outcome: RevokeOutcomeView, message?: string | null, };

export type EverywhereView = { 
/**
 * True: every other session revoked and this one signed out.
 */
done: boolean, revoked: number, failed: Array<RevokeView>, };

export type SignedOutView = { signedOut: number, failed: Array<string>, };

export type RetriedView = { 
/**
 * Per session (revoke, sign out other devices).
 */
revoked: Array<RevokeView>, 
/**
 * "Sign out everywhere".
 */
everywhere?: EverywhereView | null, 
/**
 * The retry failed as a whole.
 */
error?: IpcError | null, };

export type PreferencesView = { 
/**
 * Closing the window keeps Latchkey running (in the tray).
 */
closeHides: boolean, 
/**
 * "Start Latchkey when I log in" (hidden, in the background).
 */
startAtLogin: boolean, };

export type UiEvent = { "type": "ready" } | { "type": "changed" } | { "type": "token_refreshed", key: AccountKey, expiresAtMs: number, } | { "type": "session_revoked", key: AccountKey, name: string, } | { "type": "new_device", key: AccountKey, sessionId: string, description: string, } | { "type": "online", online: boolean, } | { "type": "sign_in_finished", account?: AccountView | null, error?: IpcError | null, } | { "type": "handoff_pending", handoff: HandoffView, } | { "type": "link_rejected", error: IpcError, } | { "type": "reverified", kind: ReverifyKind, account?: AccountView | null, retried?: RetriedView | null, } | { "type": "sign_in_continues", signIn: SignInView, } | { "type": "link_check", result: LinkCheckView, };

export type EventChannel = import('@tauri-apps/api/core').Channel<UiEvent>;

export type Claims = Record<string, unknown>;

/** Every command: its arguments and its result. */
export type Commands = {
  subscribe: { args: { channel: EventChannel }; returns: void };
  snapshot: { args: {}; returns: Snapshot };
  sign_in_options: { args: { instanceId: string }; returns: SignInOptions };
  start_sign_in: { args: { instanceId: string; strategy?: string | null; loopback?: boolean | null }; returns: SignInView };
  finish_in_browser: { args: { key: AccountKey }; returns: SignInView };
  verify_again: { args: { key: AccountKey; then?: GuardedView | null }; returns: SignInView };
  reopen_sign_in: { args: {}; returns: boolean };
  copy_sign_in_link: { args: {}; returns: void };
  cancel_sign_in: { args: {}; returns: boolean };
  confirm_handoff: { args: {}; returns: HandoffDone };
  decline_handoff: { args: {}; returns: boolean };
  switch_account: { args: { key: AccountKey }; returns: void };
  organizations: { args: { key: AccountKey }; returns: OrgState };
  switch_org: { args: { key: AccountKey; orgId?: string | null }; returns: void };
  org_members: { args: { key: AccountKey }; returns: Array<MemberView> };
  session_details: { args: { key: AccountKey }; returns: DetailsView };
  template_claims: { args: { key: AccountKey; template: string }; returns: Claims };
  copy_token: { args: { key: AccountKey; template?: string | null }; returns: number };
  refresh: { args: { instanceId?: string | null }; returns: void };
  devices: { args: { key: AccountKey }; returns: Array<DeviceView> };
  revoke_session: { args: { key: AccountKey; sessionId: string }; returns: RevokeView };
  sign_out_other_devices: { args: { key: AccountKey }; returns: Array<RevokeView> };
  sign_out: { args: { key: AccountKey }; returns: void };
  sign_out_all_here: { args: {}; returns: SignedOutView };
  sign_out_everywhere: { args: { key: AccountKey; force: boolean }; returns: EverywhereView };
  add_instance: { args: { publishableKey: string }; returns: InstanceView };
  unlock_keyring: { args: {}; returns: StorageView };
  check_links: { args: {}; returns: LinkCheckView };
  cancel_link_check: { args: {}; returns: boolean };
  use_copied_link: { args: {}; returns: void };
  forget_everything: { args: {}; returns: ForgetView };
  preferences: { args: {}; returns: PreferencesView };
  set_close_hides: { args: { on: boolean }; returns: PreferencesView };
  set_start_at_login: { args: { on: boolean }; returns: PreferencesView };
  finish_welcome: { args: {}; returns: void };
  quit: { args: {}; returns: void };
};

import type { AccountView, Snapshot } from '../bindings/ipc';

export function account(name: string, session: string, extra: Partial<AccountView> = {}): AccountView {
  return {
    key: { instanceId: 'ins_demo', sessionId: session },
    userId: `user_${session}`,
    name,
    email: `${name.split(' ')[0].toLowerCase()}@example.com`,
    initials: name
      .split(' ')
      .map((w) => w[0])
      .join(''),
    avatar: null,
    active: false,
    status: 'active',
    tasks: [],
    signedIn: true,
    activeOrgId: null,
    instanceName: 'Latchkey Demo',
    instanceKind: 'local_demo',
    locked: false,
    ...extra,
  };
}

export function snapshot(accounts: AccountView[], extra: Partial<Snapshot> = {}): Snapshot {
  return {
    ready: true,
    startupError: null,
    instances: [{ id: 'ins_demo', kind: 'local_demo', name: 'Latchkey Demo', frontendApi: 'http://127.0.0.1:1/' }],
    accounts,
    active: accounts.find((a) => a.active)?.key ?? null,
    status: {
      online: true,
      lastRefreshMs: null,
      storage: { state: 'secure', detail: 'Secret Service', locked: false, accountsWaiting: false },
      clockSkewSecs: 0,
    },
    signIn: null,
    handoff: null,
    version: '0.1.0',
    dataProblems: [],
    firstRun: false,
    ...extra,
  };
}

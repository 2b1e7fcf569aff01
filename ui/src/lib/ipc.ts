/**
 * Typed wrappers over Tauri IPC. Every command name, argument and result
 * comes from the generated bindings; errors arrive as `IpcError`
 * (`{ kind, message }`) and the UI branches on `kind` (see `errors.ts`).
 */
import { Channel, invoke } from '@tauri-apps/api/core';
import type { Commands, IpcError, UiEvent } from '../bindings/ipc';

type Args<K extends keyof Commands> = Commands[K]['args'];

/** Calls a Rust command. Rejects with an `IpcError`. */
export async function call<K extends keyof Commands>(
  cmd: K,
  ...args: object extends Args<K> ? [Args<K>?] : [Args<K>]
): Promise<Commands[K]['returns']> {
  try {
    return (await invoke(cmd, (args[0] ?? {}) as Record<string, unknown>)) as Commands[K]['returns'];
  } catch (e) {
    throw toIpcError(e);
  }
}

/** Normalises anything thrown by `invoke` into an `IpcError`. */
export function toIpcError(e: unknown): IpcError {
  if (e && typeof e === 'object' && 'kind' in e && 'message' in e) {
    const o = e as { kind: unknown; message: unknown; retryAfterSecs?: unknown };
    return {
      kind: String(o.kind) as IpcError['kind'],
      message: String(o.message),
      retryAfterSecs: typeof o.retryAfterSecs === 'number' ? o.retryAfterSecs : null,
    };
  }
  return { kind: 'internal', message: e instanceof Error ? e.message : String(e) };
}

/**
 * Receives every update from Rust over a channel handed to `subscribe`
 * (the window may not listen to global events at all). The returned
 * function stops handling them.
 */
export async function onEvent(handler: (e: UiEvent) => void): Promise<() => void> {
  let live = true;
  const channel = new Channel<UiEvent>();
  channel.onmessage = (e) => {
    if (live) handler(e);
  };
  await call('subscribe', { channel });
  return () => {
    live = false;
  };
}

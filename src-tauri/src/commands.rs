//! IPC commands: one line each over [`Latchkey`]. Their names are listed
//! once, in `command_list.rs` (`crate::COMMANDS`), and granted to the main
//! window in `capabilities/main.json`.

use tauri::{AppHandle, Runtime, State};

use crate::deep_link::on_loopback;
use crate::error::Result;
use crate::links::LinkCheckView;
use crate::state::Latchkey;
use crate::view::*;
use crate::{ClipboardState, LinksState};

type S<'a> = State<'a, Latchkey>;

/// The window's event channel (events never go out as global Tauri
/// events, which page scripts could listen to).
#[tauri::command]
pub fn subscribe(lk: S<'_>, channel: tauri::ipc::Channel<UiEvent>) -> Result<()> {
    lk.subscribe(channel);
    Ok(())
}

#[tauri::command]
pub async fn snapshot(lk: S<'_>) -> Result<Snapshot> {
    Ok(lk.snapshot().await)
}

#[tauri::command]
pub async fn sign_in_options(lk: S<'_>, instance_id: String) -> Result<SignInOptions> {
    lk.sign_in_options(&instance_id).await
}

#[tauri::command]
pub async fn start_sign_in<R: Runtime>(
    app: AppHandle<R>,
    lk: S<'_>,
    instance_id: String,
    strategy: Option<String>,
    loopback: Option<bool>,
) -> Result<SignInView> {
    lk.start_sign_in(
        &instance_id,
        strategy.as_deref(),
        loopback.unwrap_or(false),
        on_loopback(&app),
    )
    .await
}

/// "Finish in browser" for a pending account.
#[tauri::command]
pub async fn finish_in_browser<R: Runtime>(
    app: AppHandle<R>,
    lk: S<'_>,
    key: AccountKey,
) -> Result<SignInView> {
    lk.reverify(&key, ReverifyKind::FinishSignIn, None, on_loopback(&app))
        .await
}

/// "Verify again in your browser", then `then` is retried once.
#[tauri::command]
pub async fn verify_again<R: Runtime>(
    app: AppHandle<R>,
    lk: S<'_>,
    key: AccountKey,
    then: Option<GuardedView>,
) -> Result<SignInView> {
    lk.reverify(&key, ReverifyKind::StepUp, then.as_ref(), on_loopback(&app))
        .await
}

#[tauri::command]
pub fn reopen_sign_in(lk: S<'_>) -> Result<bool> {
    lk.reopen_sign_in()
}

#[tauri::command]
pub fn copy_sign_in_link(lk: S<'_>, clip: State<'_, ClipboardState>) -> Result<()> {
    clip.0.copy_text(&lk.sign_in_link()?)
}

#[tauri::command]
pub async fn cancel_sign_in(lk: S<'_>) -> Result<bool> {
    lk.cancel_sign_in().await
}

#[tauri::command]
pub async fn confirm_handoff<R: Runtime>(app: AppHandle<R>, lk: S<'_>) -> Result<HandoffDone> {
    lk.confirm_handoff(on_loopback(&app)).await
}

#[tauri::command]
pub async fn decline_handoff(lk: S<'_>) -> Result<bool> {
    lk.decline_handoff().await
}

#[tauri::command]
pub async fn switch_account(lk: S<'_>, key: AccountKey) -> Result<()> {
    lk.switch_account(&key).await
}

#[tauri::command]
pub async fn organizations(lk: S<'_>, key: AccountKey) -> Result<OrgState> {
    lk.organizations(&key).await
}

#[tauri::command]
pub async fn switch_org(lk: S<'_>, key: AccountKey, org_id: Option<String>) -> Result<()> {
    lk.switch_org(&key, org_id.as_deref()).await
}

#[tauri::command]
pub async fn org_members(lk: S<'_>, key: AccountKey) -> Result<Vec<MemberView>> {
    lk.org_members(&key).await
}

#[tauri::command]
pub async fn session_details(lk: S<'_>, key: AccountKey) -> Result<DetailsView> {
    lk.session_details(&key).await
}

#[tauri::command]
pub async fn template_claims(
    lk: S<'_>,
    key: AccountKey,
    template: String,
) -> Result<serde_json::Value> {
    lk.template_claims(&key, &template).await
}

/// Copies a token in Rust after the user said yes in a native dialog
/// (Rust's); returns when the clipboard is cleared (ms since the epoch).
#[tauri::command]
pub async fn copy_token(
    lk: S<'_>,
    clip: State<'_, ClipboardState>,
    key: AccountKey,
    template: Option<String>,
) -> Result<i64> {
    clip.0
        .copy(&lk.token_for_clipboard(&key, template.as_deref()).await?)
}

#[tauri::command]
pub async fn refresh(lk: S<'_>, instance_id: Option<String>) -> Result<()> {
    lk.refresh(instance_id.as_deref()).await
}

#[tauri::command]
pub async fn devices(lk: S<'_>, key: AccountKey) -> Result<Vec<DeviceView>> {
    lk.devices(&key).await
}

#[tauri::command]
pub async fn revoke_session(lk: S<'_>, key: AccountKey, session_id: String) -> Result<RevokeView> {
    lk.revoke_session(&key, &session_id).await
}

#[tauri::command]
pub async fn sign_out_other_devices(lk: S<'_>, key: AccountKey) -> Result<Vec<RevokeView>> {
    lk.sign_out_other_devices(&key).await
}

#[tauri::command]
pub async fn sign_out(lk: S<'_>, key: AccountKey) -> Result<()> {
    lk.sign_out(&key).await
}

#[tauri::command]
pub async fn sign_out_all_here(lk: S<'_>) -> Result<SignedOutView> {
    lk.sign_out_all_here().await
}

#[tauri::command]
pub async fn sign_out_everywhere(
    lk: S<'_>,
    key: AccountKey,
    force: bool,
) -> Result<EverywhereView> {
    lk.sign_out_everywhere(&key, force).await
}

/// Quits Latchkey (Ctrl+Q, the Quit item; the tray's Quit is the same [`crate::quit`]).
#[tauri::command]
pub fn quit<R: Runtime>(app: AppHandle<R>) -> Result<()> {
    crate::quit(&app);
    Ok(())
}

#[tauri::command]
pub fn preferences<R: Runtime>(app: AppHandle<R>, lk: S<'_>) -> Result<PreferencesView> {
    Ok(lk.preferences(crate::autostart::enabled(&app)))
}

/// "Keep Latchkey running when the window is closed".
#[tauri::command]
pub fn set_close_hides<R: Runtime>(
    app: AppHandle<R>,
    lk: S<'_>,
    on: bool,
) -> Result<PreferencesView> {
    lk.set_close_hides(on);
    Ok(lk.preferences(crate::autostart::enabled(&app)))
}

/// "Start Latchkey when I log in" (it then starts hidden).
#[tauri::command]
pub fn set_start_at_login<R: Runtime>(
    app: AppHandle<R>,
    lk: S<'_>,
    on: bool,
) -> Result<PreferencesView> {
    crate::autostart::set(&app, on)?;
    Ok(lk.preferences(crate::autostart::enabled(&app)))
}

/// The first-run screen was answered.
#[tauri::command]
pub fn finish_welcome(lk: S<'_>) -> Result<()> {
    lk.finish_welcome();
    Ok(())
}

/// "Check that links open Latchkey" (and repair them for this user).
#[tauri::command]
pub async fn check_links(links: State<'_, LinksState>) -> Result<LinkCheckView> {
    crate::links::check(links.desktop.as_ref(), &links.check, links.wait).await
}

/// Stops the link check in progress.
#[tauri::command]
pub fn cancel_link_check(links: State<'_, LinksState>) -> Result<bool> {
    Ok(links.check.cancel())
}

/// "Use the link I copied", while a sign-in waits.
#[tauri::command]
pub async fn use_copied_link<R: Runtime>(
    app: AppHandle<R>,
    clip: State<'_, ClipboardState>,
) -> Result<()> {
    crate::deep_link::use_copied_link(&app, &clip.0).await
}

/// Settings → "Forget everything on this device" (Rust asks first); the
/// app quits when done.
#[tauri::command]
pub async fn forget_everything<R: Runtime>(
    app: AppHandle<R>,
    lk: S<'_>,
    links: State<'_, LinksState>,
) -> Result<ForgetView> {
    let done = lk.forget_everything(links.desktop.as_ref()).await?;
    // The app's log beside the data dir (the webview's own cache stays
    // while it runs: the page keeps nothing in it).
    if let Ok(dir) = tauri::Manager::path(&app).app_log_dir()
        && let Err(e) = std::fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("{} was not deleted: {e}", dir.display());
    }
    if links.quits {
        let quit = app.clone();
        tauri::async_runtime::spawn(async move {
            // The window shows what was done before it goes.
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            crate::quit(&quit);
        });
    }
    Ok(done)
}

/// "Unlock" for a locked keyring.
#[tauri::command]
pub async fn unlock_keyring(lk: S<'_>) -> Result<StorageView> {
    lk.unlock_keyring().await
}

#[tauri::command]
pub async fn add_instance(lk: S<'_>, publishable_key: String) -> Result<InstanceView> {
    lk.add_instance(&publishable_key).await
}

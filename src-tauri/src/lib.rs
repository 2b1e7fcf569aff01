//! Latchkey's desktop shell: glue between Tauri and `latchkey-core`.
//! Setup, thin commands, events, tray, deep links; no Clerk logic here.

pub mod autostart;
mod avatar;
pub mod bindings;
pub mod clipboard;
#[doc(hidden)]
pub mod commands;
pub mod confirm;
mod deep_link;
pub mod error;
pub mod events;
pub mod links;
pub mod prefs;
pub mod rendering;
pub mod settings;
mod sign_in;
pub mod state;
pub mod tray;
pub mod view;
pub mod window;

use std::sync::Arc;

use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;

pub use deep_link::{ensure_utf8_args, utf8_args_only};
/// Handles deep links as the OS delivers them (tests drive it directly).
#[doc(hidden)]
pub use deep_link::{handle_requests, handle_urls};

use crate::clipboard::{Clipboard, PluginClipboard, TokenClipboard};
use crate::events::{Notifier, PluginNotifier};
use crate::settings::Settings;
use crate::state::{Latchkey, Opener};
use crate::tray::{TrayAction, TrayItem, TrayState};

/// The token clipboard, managed by Tauri.
pub struct ClipboardState(pub TokenClipboard);

const TRAY_ID: &str = "main";

/// How the shell is wired: the real one, or a test's.
pub struct Wiring {
    pub settings: Settings,
    pub opener: Option<Opener>,
    pub clipboard: Option<Arc<dyn Clipboard>>,
    pub notifier: Option<Arc<dyn Notifier>>,
    pub clipboard_clear_after: std::time::Duration,
    /// Secret storage (None: the OS keychain).
    pub store: Option<Arc<dyn latchkey_core::store::SecretStore>>,
    /// Tray, deep-link registration, plugins that need a desktop.
    pub desktop: bool,
    /// What the command line asked for (`--sign-in`, `--verify-account`),
    /// done once the engine is up.
    pub requests: Vec<settings::Request>,
    /// Asks before sensitive actions (None: the native dialog).
    pub confirmer: Option<Arc<dyn confirm::Confirmer>>,
    /// How links reach the app (None: the desktop, through `gio`).
    pub links: Option<Arc<dyn links::Desktop>>,
    /// How long the link check waits for its link, each round.
    pub link_wait: std::time::Duration,
    /// How long a hidden window stays loaded (see [`window`]).
    pub unload_hidden_after: std::time::Duration,
    /// How Latchkey exits (None: Tauri's exit, which cleans up first). The
    /// mock runtime of the tests cannot exit, so they record it.
    pub exit: Option<ExitHook>,
}

/// See [`Wiring::exit`].
pub type ExitHook = Arc<dyn Fn(i32) + Send + Sync>;

/// The one way Latchkey quits: Ctrl+Q and the window's Quit, the tray's
/// Quit, and the end of "Forget everything".
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    match app.try_state::<ExitState>().and_then(|s| s.0.clone()) {
        Some(hook) => hook(0),
        None => app.exit(0),
    }
}

struct ExitState(Option<ExitHook>);

/// The link check and the desktop it goes through, managed by Tauri.
pub struct LinksState {
    pub check: links::LinkCheck,
    pub desktop: Arc<dyn links::Desktop>,
    pub wait: std::time::Duration,
    /// A real desktop session (not a test's runtime): the app quits after
    /// "Forget everything".
    pub quits: bool,
}

// `COMMANDS` and `invoke_handler()` from the one list (`command_list.rs`).
macro_rules! latchkey_commands {
    ($($name:ident),* $(,)?) => {
        /// Every IPC command, by name: the list `build.rs` declares to Tauri.
        pub const COMMANDS: &[&str] = &[$(stringify!($name)),*];

        /// The invoke handler with every command (for the app's builder and
        /// the tests' mock builder).
        pub fn invoke_handler<R: Runtime>(
        ) -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$(commands::$name),*]
        }
    };
}
include!("../command_list.rs");

/// Runs the desktop app.
pub fn run() {
    // GTK cannot start without a display (it would panic deep inside tao).
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty())
        && std::env::var_os("WAYLAND_DISPLAY").is_none_or(|d| d.is_empty())
    {
        eprintln!(
            "latchkey-app: no display (DISPLAY and WAYLAND_DISPLAY are unset).\n\
             Run it in a desktop session, or under a virtual display: xvfb-run -a latchkey-app\n\
             The same accounts are available from the command line: latchkey status"
        );
        std::process::exit(1);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let settings = match settings::from_args(&args, &|k| std::env::var_os(k)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("latchkey-app: {}", e.message);
            std::process::exit(2);
        }
    };
    let requests = settings::requests(&args);
    let wiring = Wiring {
        settings,
        requests,
        confirmer: None,
        opener: None,
        clipboard: None,
        notifier: None,
        clipboard_clear_after: clipboard::CLEAR_AFTER,
        store: None,
        desktop: true,
        links: None,
        link_wait: links::WAIT,
        unload_hidden_after: window::unload_after_from_env(&|k| std::env::var_os(k)),
        exit: None,
    };
    let builder = tauri::Builder::default()
        // First: a second launch (a deep link) goes to this instance.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            window::show(app);
            // `latchkey sign-in` (or a step-up) from the command line, while
            // the app runs.
            let args: Vec<std::ffi::OsString> = argv.iter().skip(1).map(Into::into).collect();
            deep_link::handle_requests(app, settings::requests(&args));
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(autostart::plugin())
        .plugin(
            tauri_plugin_log::Builder::new()
                .level(log::LevelFilter::Info)
                .build(),
        );
    let mut context = tauri::generate_context!();
    // Started at login: in the background, the window not even created
    // until asked for (launching Latchkey again, the tray): no webview, no
    // WebKit processes (see `window`).
    if autostart::hidden(&args) {
        for w in &mut context.config_mut().app.windows {
            w.create = false;
        }
    }
    let app = build_app(builder.invoke_handler(invoke_handler()), wiring).build(context);
    match app {
        Ok(app) => app.run(|app, event| {
            // The last window went away because it was unloaded while
            // hidden: Latchkey keeps running. (Quitting asks with a code.)
            if let tauri::RunEvent::ExitRequested {
                code: None, api, ..
            } = event
                && window::keep_running(app)
            {
                api.prevent_exit();
            }
        }),
        Err(e) => {
            eprintln!("latchkey-app: could not start: {e}");
            std::process::exit(1);
        }
    }
}

/// The opener: `$BROWSER` when set (a test's recording script, or a user's
/// choice), else the opener plugin. The browser does not inherit what the
/// app set for its own webview (`rendering::set_here`): when there is such
/// a variable, `xdg-open` / `gio open` are started here without it, as the
/// plugin cannot leave a variable out.
fn default_opener<R: Runtime>(app: AppHandle<R>) -> Opener {
    Arc::new(move |url: &str| {
        let ours = rendering::set_here();
        latchkey_host::browser::from_env_without(url, ours).unwrap_or_else(|| {
            if !ours.is_empty() {
                return latchkey_host::browser::open_without(url, ours);
            }
            use tauri_plugin_opener::OpenerExt;
            app.opener().open_url(url, None::<&str>).is_ok()
        })
    })
}

/// The app's own pages: the bundled UI (`tauri://localhost` on Linux and
/// macOS, `http(s)://tauri.localhost` on Windows), and the blank page a
/// webview starts from. Nothing else may be loaded in the window: Clerk's
/// pages open in the system browser, and a script that tries to navigate
/// away (to a phishing page dressed as the app, say) is refused.
pub fn own_page(url: &url::Url) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" => url.host_str() == Some("tauri.localhost"),
        "about" => url.path() == "blank",
        _ => false,
    }
}

/// Refuses every navigation of the window to a page that is not
/// [`own_page`].
fn navigation_guard<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri::plugin::Builder::new("navigation-guard")
        .on_navigation(|_webview, url| {
            let ok = own_page(url);
            if !ok {
                tracing::warn!(
                    scheme = url.scheme(),
                    "the window was kept from navigating away"
                );
            }
            ok
        })
        .build()
}

/// Wires state, setup and deep links onto a builder (the real one, or
/// `tauri::test::mock_builder()`).
pub fn build_app<R: Runtime>(builder: tauri::Builder<R>, wiring: Wiring) -> tauri::Builder<R> {
    builder
        .plugin(navigation_guard())
        .on_window_event(|window, event| {
            // Closing the window keeps Latchkey running (refresh, notices,
            // the tray), unless the user turned that off.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event
                && window.label() == "main"
                && window.app_handle().state::<Latchkey>().hide_on_close()
            {
                api.prevent_close();
                window::hide(window.app_handle());
            }
        })
        .setup(move |app| {
            let handle = app.handle().clone();
            let opener = wiring
                .opener
                .clone()
                .unwrap_or_else(|| default_opener(handle.clone()));
            let clip: Arc<dyn Clipboard> = wiring
                .clipboard
                .clone()
                .unwrap_or_else(|| Arc::new(PluginClipboard(handle.clone())));
            let notifier: Arc<dyn Notifier> = wiring
                .notifier
                .clone()
                .unwrap_or_else(|| Arc::new(PluginNotifier(handle.clone())));
            let confirmer: Arc<dyn confirm::Confirmer> = wiring
                .confirmer
                .clone()
                .unwrap_or_else(|| Arc::new(confirm::DialogConfirmer(handle.clone())));
            let prefs = prefs::PrefsStore::load(&wiring.settings.data_dir);
            app.manage(Latchkey::new(opener, confirmer, notifier.clone(), prefs));
            app.manage(ClipboardState(TokenClipboard::new(
                clip,
                wiring.clipboard_clear_after,
            )));
            app.manage(TrayState::default());
            app.manage(window::WindowLife::new(wiring.unload_hidden_after));
            app.manage(ExitState(wiring.exit.clone()));
            // Started hidden (at login): the window's events wait for it.
            if app
                .config()
                .app
                .windows
                .iter()
                .any(|w| w.label == window::MAIN && !w.create)
            {
                app.state::<Latchkey>().window_hidden(true);
            }

            // Installed by a package, its desktop entry hands links to
            // this binary; otherwise (`make run`) it registers itself for
            // this user.
            let packaged = std::env::current_exe().is_ok_and(|exe| {
                links::packaged(
                    &exe,
                    links::system_entry(&|k| std::env::var_os(k)).as_deref(),
                )
            });
            let desktop_links = wiring.links.clone().unwrap_or_else(|| {
                Arc::new(links::SystemDesktop {
                    app: handle.clone(),
                    packaged,
                })
            });
            app.manage(LinksState {
                check: links::LinkCheck::default(),
                desktop: desktop_links,
                wait: wiring.link_wait,
                quits: wiring.desktop,
            });
            if wiring.desktop {
                setup_desktop(&handle, packaged)?;
            }
            let first_link_check =
                wiring.desktop && !handle.state::<Latchkey>().prefs().get().link_check_done;

            // The engine starts off the UI thread; the window shows "Starting…"
            // until `UiEvent::Ready`.
            let settings = wiring.settings.clone();
            let store = wiring.store.clone();
            let requests = wiring.requests.clone();
            tauri::async_runtime::spawn(async move {
                let r = state::start_engine(&settings, store).await;
                let engine = r.as_ref().ok().map(|c| c.engine.clone());
                if let Err(e) = &r {
                    tracing::error!("could not start: {}", e.message);
                }
                handle.state::<Latchkey>().set_started(r);
                if let Some(engine) = engine {
                    events::spawn_forwarder(handle.clone(), engine.clone(), notifier);
                    events::emit(&handle, view::UiEvent::Ready);
                    events::after_change(&handle).await;
                    // Fresh state from Clerk (and instance names), after the
                    // first paint.
                    let _ = engine.reload(None).await;
                    for i in engine.instances().await {
                        let _ = engine.load_environment(i.id()).await;
                    }
                    // The CLI may ask now: the accounts are read.
                    #[cfg(unix)]
                    handle
                        .state::<Latchkey>()
                        .serve_cli(engine.clone(), &settings)
                        .await;
                    events::emit(&handle, view::UiEvent::Changed);
                    deep_link::handle_requests(&handle, requests);
                    if first_link_check {
                        first_run_link_check(&handle).await;
                    }
                } else {
                    events::emit(&handle, view::UiEvent::Ready);
                }
            });
            Ok(())
        })
}

/// The first run checks once, quietly, that links open Latchkey (and
/// repairs the registration for this user when they do not); the window
/// hears about it only when something was wrong.
async fn first_run_link_check<R: Runtime>(app: &AppHandle<R>) {
    let links = app.state::<LinksState>();
    let r = links::check(links.desktop.as_ref(), &links.check, links.wait).await;
    app.state::<Latchkey>()
        .prefs()
        .update(|p| p.link_check_done = true);
    match r {
        Ok(result) if result.ok && !result.repaired => {
            tracing::info!("links open Latchkey");
        }
        Ok(result) => {
            tracing::warn!(problems = ?result.problems, "link check: {}", result.detail);
            events::emit(app, view::UiEvent::LinkCheck { result });
        }
        Err(e) => tracing::info!("link check not finished: {}", e.message),
    }
}

fn setup_desktop<R: Runtime>(
    app: &AppHandle<R>,
    packaged: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    // The log plugin's directory is the user's alone, like the data dir.
    if let Ok(logs) = app.path().app_log_dir() {
        for d in [logs.parent(), Some(logs.as_path())].into_iter().flatten() {
            if let Err(e) = latchkey_core::private_fs::private_dir(d) {
                tracing::warn!("could not make {} private: {e}", d.display());
            }
        }
    }
    // Deep links: the one that started us (cold start), then every later
    // one (a second launch, forwarded by single-instance).
    // Registering writes a desktop entry and runs `update-desktop-database`
    // and `xdg-mime` (tens of ms): not on the main thread, which would paint
    // the window only after.
    #[cfg(any(target_os = "linux", windows))]
    if packaged {
        tracing::info!("installed by a package: its desktop entry opens links");
    } else {
        let h = app.clone();
        std::thread::spawn(move || {
            if let Err(e) = h.deep_link().register_all() {
                tracing::warn!("could not register the URL scheme: {e}");
            }
        });
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    let _ = packaged;
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        deep_link::handle_urls(app, urls.iter().map(ToString::to_string).collect());
    }
    let h = app.clone();
    app.deep_link().on_open_url(move |event| {
        deep_link::handle_urls(&h, event.urls().iter().map(ToString::to_string).collect());
    });

    // The tray comes a moment after the window's first paint (building it
    // talks to the desktop over D-Bus and writes its icon to disk, on the
    // main thread), with the accounts known by then.
    let h = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(TRAY_AFTER).await;
        let accounts = match h.try_state::<Latchkey>() {
            Some(lk) => lk.snapshot().await.accounts,
            None => Vec::new(),
        };
        let app = h.clone();
        let _ = h.run_on_main_thread(move || {
            if let Err(e) = build_tray(&app, tray::model(&accounts)) {
                tracing::warn!("could not create the tray icon: {e}");
            }
        });
    });
    Ok(())
}

/// How long after the start the tray icon is created: after the first
/// paint of a cold start (≈ 0.9 s here) and of a first launch on a fresh
/// profile (≈ 1.9 s), which 0.8 s fell inside of.
const TRAY_AFTER: std::time::Duration = std::time::Duration::from_millis(2500);

fn build_tray<R: Runtime>(app: &AppHandle<R>, items: Vec<TrayItem>) -> tauri::Result<()> {
    let menu = tray::menu(app, &items)?;
    *state::lock(&app.state::<TrayState>().0) = items;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Latchkey")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| tray_clicked(app, event.id().as_ref()));
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

/// A click on the tray menu's item `id` (as the menu was last built): the
/// same code the window's buttons run. Switching and signing out finish in
/// the background (signing out asks first).
pub fn tray_clicked<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let action = tray::action(&state::lock(&app.state::<TrayState>().0), id);
    let Some(action) = action else { return };
    let app = app.clone();
    match action {
        TrayAction::Open => window::show(&app),
        TrayAction::Quit => quit(&app),
        TrayAction::Switch(key) => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = app.state::<Latchkey>().switch_account(&key).await {
                    tracing::warn!("tray switch failed: {}", e.message);
                }
            });
        }
        TrayAction::SignOut(key) => {
            tauri::async_runtime::spawn(async move {
                if let Err(e) = app.state::<Latchkey>().sign_out_from_tray(&key).await {
                    tracing::warn!("tray sign-out failed: {}", e.message);
                }
            });
        }
    }
}

/// Re-renders the tray menu from the current accounts.
pub async fn refresh_tray<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let snap = app.state::<Latchkey>().snapshot().await;
    let items = tray::model(&snap.accounts);
    if let Ok(menu) = tray::menu(app, &items) {
        let _ = tray.set_menu(Some(menu));
        *state::lock(&app.state::<TrayState>().0) = items;
    }
}

#[cfg(test)]
mod navigation_tests {
    use super::own_page;

    #[test]
    fn only_the_apps_own_pages_load_in_the_window() {
        for ok in [
            "tauri://localhost/",
            "tauri://localhost/index.html#/devices",
            "http://tauri.localhost/",
            "https://tauri.localhost/assets/x.js",
            "about:blank",
        ] {
            assert!(own_page(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "https://example.com/",
            "http://127.0.0.1:4000/hosted/sign-in",
            "tauri://evil.example/",
            "https://tauri.localhost.evil.example/",
            "file:///etc/passwd",
            "data:text/html,<h1>Sign in</h1>",
            "javascript:alert(1)",
            "about:srcdoc",
            "dev.latchkey.desktop://callback?state=x",
        ] {
            assert!(!own_page(&bad.parse().unwrap()), "{bad}");
        }
    }
}

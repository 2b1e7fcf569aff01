//! Deep links: argument hygiene at launch, and handling each URL once in
//! Rust (the webview only hears about the result).

use latchkey_core::Outcome;
use std::future::Future;
use std::pin::Pin;

use tauri::{AppHandle, Manager, Runtime};

use crate::error::{IpcError, Result};
use crate::events::emit;
use crate::settings::Request;
use crate::state::Latchkey;
use crate::view::UiEvent;

/// Arguments that are not valid Unicode would make `std::env::args()`
/// panic inside the plugins; they are dropped here (with a warning) by
/// re-executing without them. Returns the arguments to keep when a
/// re-exec is needed.
pub fn utf8_args_only(args: &[std::ffi::OsString]) -> Option<Vec<std::ffi::OsString>> {
    if args.iter().all(|a| a.to_str().is_some()) {
        return None;
    }
    Some(
        args.iter()
            .filter(|a| a.to_str().is_some())
            .cloned()
            .collect(),
    )
}

/// Called first thing in `main`.
pub fn ensure_utf8_args() {
    let args: Vec<_> = std::env::args_os().collect();
    let Some(keep) = utf8_args_only(&args) else {
        return;
    };
    eprintln!("latchkey-app: ignoring arguments that are not valid UTF-8");
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        if let Ok(exe) = std::env::current_exe() {
            let err = std::process::Command::new(exe)
                .args(keep.iter().skip(1))
                .exec();
            eprintln!("latchkey-app: could not restart without them: {err}");
        }
    }
    let _ = keep;
    std::process::exit(2);
}

/// Where a loopback callback's outcome goes: the same place as a deep
/// link's.
pub(crate) fn on_loopback<R: Runtime>(
    app: &AppHandle<R>,
) -> impl FnOnce(Result<Outcome, IpcError>) + Send + 'static {
    let done = app.clone();
    move |r| {
        tauri::async_runtime::spawn(async move { after_callback(&done, r).await });
    }
}

/// Runs what the command line asked for (`--sign-in`, `--verify-account`)
/// once the engine is up, and shows the window on it.
pub fn handle_requests<R: Runtime>(app: &AppHandle<R>, requests: Vec<Request>) {
    if requests.is_empty() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let lk = app.state::<Latchkey>();
        for req in requests {
            let r = match &req {
                Request::SignIn { instance } => {
                    lk.sign_in_on_request(instance, on_loopback(&app)).await
                }
                Request::Verify { session_id } => {
                    lk.verify_on_request(session_id, on_loopback(&app)).await
                }
            };
            crate::window::show(&app);
            match r {
                Ok(_) => emit(&app, UiEvent::Changed),
                Err(error) => {
                    tracing::warn!(kind = ?error.kind, "{req:?} not done: {}", error.message);
                    emit(
                        &app,
                        UiEvent::SignInFinished {
                            account: None,
                            error: Some(error),
                        },
                    );
                }
            }
        }
    });
}

/// Handles deep links one after another.
pub fn handle_urls<R: Runtime>(app: &AppHandle<R>, urls: Vec<String>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        for url in urls {
            // A link check: answered here, only while one with this nonce
            // is pending; it never reaches the engine.
            if let Some(nonce) = crate::links::self_test_nonce(&url) {
                if app.state::<crate::LinksState>().check.arrived(&nonce) {
                    tracing::info!("the link check arrived");
                } else {
                    emit(
                        &app,
                        UiEvent::LinkRejected {
                            error: IpcError::new(
                                crate::error::ErrorKind::Callback,
                                "a link check Latchkey is not waiting for; nothing changed",
                            ),
                        },
                    );
                }
                continue;
            }
            let r = app.state::<Latchkey>().handle_deep_link(&url).await;
            after_callback(&app, r).await;
        }
    });
}

/// "Use the link I copied": the callback the browser could not hand over,
/// read from the clipboard in Rust (it never passes through the page) and
/// checked like any callback (state, PKCE, the attempt it belongs to). The
/// link is single use: it is taken off the clipboard.
///
/// # Errors
/// `bad_input` when the clipboard holds no Latchkey link; the callback's
/// own error when it is refused (nothing changed then).
pub async fn use_copied_link<R: Runtime>(
    app: &AppHandle<R>,
    clip: &crate::clipboard::TokenClipboard,
) -> Result<()> {
    let text = clip.read_text().unwrap_or_default();
    let url = text.trim();
    let prefix = format!("{}://", latchkey_core::callback::SCHEME);
    let ours = url
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(&prefix));
    if !ours {
        return Err(IpcError::bad_input(
            "the clipboard holds no Latchkey link: copy the address that starts with              dev.latchkey.desktop:// from your browser, then try again",
        ));
    }
    if crate::links::self_test_nonce(url).is_some() {
        return Err(IpcError::bad_input(
            "that is a link check, not a sign-in link",
        ));
    }
    let r = app.state::<Latchkey>().handle_deep_link(url).await;
    clip.clear_if(url);
    let outcome = r?;
    after_callback(app, Ok(outcome)).await;
    Ok(())
}

/// What a callback (deep link or loopback) led to, told to the window.
/// Boxed: a callback can start another sign-in whose loopback callback
/// comes back here.
pub fn after_callback<R: Runtime>(
    app: &AppHandle<R>,
    r: Result<Outcome, IpcError>,
) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(async move {
        let lk = app.state::<Latchkey>();
        match r {
            Ok(Outcome::SignedIn { session, .. }) => {
                let account = lk.finish_sign_in(&session).await;
                crate::window::show(app);
                emit(
                    app,
                    UiEvent::SignInFinished {
                        account,
                        error: None,
                    },
                );
                emit(app, UiEvent::Changed);
            }
            Ok(Outcome::Reverified(done)) => {
                let event = lk.finish_reverify(&done).await;
                crate::window::show(app);
                emit(app, event);
                emit(app, UiEvent::Changed);
            }
            Ok(Outcome::ContinueInBrowser(more)) => {
                // Hosted auth takes over on the same route; the window says why.
                let again = app.clone();
                let r = lk
                    .continue_in_browser(&more, move |r| {
                        tauri::async_runtime::spawn(async move {
                            after_callback(&again, r).await;
                        });
                    })
                    .await;
                match r {
                    Ok(sign_in) => emit(app, UiEvent::SignInContinues { sign_in }),
                    Err(error) => emit(
                        app,
                        UiEvent::SignInFinished {
                            account: None,
                            error: Some(error),
                        },
                    ),
                }
            }
            Ok(Outcome::Duplicate) => {}
            Ok(Outcome::HandoffPending(_)) => {
                if let Some(handoff) = lk.pending_handoff() {
                    crate::window::show(app);
                    emit(app, UiEvent::HandoffPending { handoff });
                }
            }
            Err(error) => {
                tracing::warn!(kind = ?error.kind, "callback rejected: {}", error.message);
                // A callback that ended the attempt (an error from the browser,
                // an expired attempt) finishes the waiting state; anything else
                // is a stray link and changes nothing.
                let still_pending = match lk.engine_now() {
                    Some(e) => e.pending_sign_in().await.is_some(),
                    None => true,
                };
                if !still_pending && lk.sign_in_failed() {
                    emit(
                        app,
                        UiEvent::SignInFinished {
                            account: None,
                            error: Some(error),
                        },
                    );
                } else {
                    emit(app, UiEvent::LinkRejected { error });
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    #[test]
    fn only_non_utf8_arguments_cause_a_restart() {
        let ok: Vec<OsString> = vec!["app".into(), "dev.latchkey.desktop://callback".into()];
        assert_eq!(utf8_args_only(&ok), None);
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let bad = vec![
                "app".into(),
                OsString::from_vec(vec![0x66, 0xff, 0x6f]),
                "--x".into(),
            ];
            assert_eq!(
                utf8_args_only(&bad),
                Some(vec![OsString::from("app"), OsString::from("--x")])
            );
        }
    }
}

//! What the desktop app and the CLI share around the session engine, with
//! no Tauri in it:
//!
//! - [`Settings`]: where the data lives, which keychain service, which Clerk
//!   instance to add, from the environment (the same variables for both, so
//!   both see the same accounts);
//! - [`open`]: the engine with those settings, the configured Clerk
//!   instance, and the local demo instance when nothing else is configured
//!   (started, or attached to when the other process runs it for this data
//!   dir), optionally with the background refresher running;
//! - [`browser`]: opening a URL in the user's browser;
//! - [`time`]: milliseconds since the epoch, as the UI and the CLI print
//!   them.
//!
//! A crate of its own rather than a module of `latchkey-core`: starting the
//! demo instance needs the emulator, and the core crate must not depend on
//! the emulator (it is only a test dependency there), so that a build of
//! the core alone carries no local Clerk.

#![warn(missing_docs)]

pub mod browser;
#[cfg(unix)]
pub mod ipc;
pub mod time;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clerk_emulator::{Emulator, EmulatorHandle, Seed, StartError};
use latchkey_core::engine::{Engine, EngineConfig};
use latchkey_core::store::{Keychain, SecretStore, platform_store};
use latchkey_core::{ErrorKind, Instance, InstanceKind};
use tokio::sync::watch;

/// The commit this build comes from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("LATCHKEY_COMMIT");

/// `0.1.0 (abc123def456)`: what "About" and `latchkey --version` say.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("LATCHKEY_COMMIT"),
    ")"
);

/// The keychain service every Latchkey process files its entries under.
pub const KEYCHAIN_SERVICE: &str = "dev.latchkey.desktop";

/// How long one keychain call may take (an unlock prompt, a D-Bus stall)
/// before it is given up.
pub const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Latchkey keeps its data and which instance it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Non-secret data (display cache, the local demo's state).
    pub data_dir: PathBuf,
    /// Secret Service / Keychain / Credential Manager service name.
    pub keychain_service: String,
    /// A Clerk instance to add at start.
    pub publishable_key: Option<String>,
    /// JWT template names for that instance (Clerk cannot list them).
    pub templates: Vec<String>,
}

impl Settings {
    /// From the environment: `LATCHKEY_DATA_DIR` (else
    /// `$XDG_DATA_HOME/latchkey`, else `~/.local/share/latchkey`),
    /// `LATCHKEY_KEYCHAIN_SERVICE` (else `dev.latchkey.desktop`),
    /// `LATCHKEY_PUBLISHABLE_KEY` and `LATCHKEY_TEMPLATES=a,b`. Empty values
    /// count as unset. `env` is `std::env::var_os` outside tests.
    pub fn from_env(env: &dyn Fn(&str) -> Option<OsString>) -> Self {
        let text = |k: &str| {
            env(k)
                .and_then(|v| v.into_string().ok())
                .filter(|v| !v.is_empty())
        };
        Self {
            data_dir: data_dir(env),
            keychain_service: text("LATCHKEY_KEYCHAIN_SERVICE")
                .unwrap_or_else(|| KEYCHAIN_SERVICE.to_owned()),
            publishable_key: text("LATCHKEY_PUBLISHABLE_KEY"),
            templates: text("LATCHKEY_TEMPLATES")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The data dir: `$LATCHKEY_DATA_DIR`, else `$XDG_DATA_HOME/latchkey`, else
/// `~/.local/share/latchkey`.
pub fn data_dir(env: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    if let Some(d) = env("LATCHKEY_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let base = env("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("latchkey")
}

/// How to open the engine.
#[derive(Default)]
pub struct OpenOptions {
    /// Probe secure storage at open (write, read back, delete): the app
    /// does; a one-shot CLI call skips it (see
    /// [`EngineConfig::probe_storage`]).
    pub probe_storage: bool,
    /// Secret storage to use instead of the OS keychain (tests).
    pub store: Option<Arc<dyn SecretStore>>,
    /// Run the background refresher until the [`Host`] is dropped.
    pub background: bool,
}

/// Why the engine could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The engine refused (a bad publishable key, secure storage).
    #[error(transparent)]
    Engine(#[from] latchkey_core::Error),
    /// The local demo instance could not be started or reached.
    #[error("could not start the local demo instance: {0}")]
    Demo(#[from] StartError),
}

impl HostError {
    /// The engine's error kind; `None` for the demo instance failing to
    /// start (a local problem with the data dir or the port, not Clerk's).
    pub fn kind(&self) -> Option<&ErrorKind> {
        match self {
            HostError::Engine(e) => Some(e.kind()),
            HostError::Demo(_) => None,
        }
    }
}

/// The open engine and what it needs to keep running.
pub struct Host {
    /// The session engine.
    pub engine: Engine,
    /// The local demo instance, when this process started it (attached
    /// ones belong to the process that started them).
    demo: std::sync::Mutex<Option<EmulatorHandle>>,
    /// Where its non-secret data lives.
    data_dir: PathBuf,
    /// Stops the background refresher when dropped (or sent `true`).
    stop: Option<watch::Sender<bool>>,
}

impl Host {
    /// True when this process serves the local demo instance.
    pub fn serves_demo(&self) -> bool {
        self.demo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// "Forget everything on this device": every account signed out here,
    /// every secret deleted ([`Engine::forget_everything`]), the local demo
    /// instance stopped, and the data dir deleted. Returns what could not
    /// be done, in words. The process should exit after: nothing is left to
    /// run on.
    pub async fn forget_everything(&self) -> Vec<String> {
        // Nothing refreshes (and writes the display cache) meanwhile.
        if let Some(stop) = &self.stop {
            let _ = stop.send(true);
        }
        let mut problems = self.engine.forget_everything().await;
        let demo = self.demo.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(d) = demo {
            d.shutdown().await;
        }
        match std::fs::remove_dir_all(&self.data_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("{} was not deleted: {e}", self.data_dir.display())),
        }
        problems
    }
}

/// Opens the engine: secure storage and the index, the configured Clerk
/// instance (with its template names), and the local demo instance when
/// nothing else is configured or it is one of the instances. Makes no
/// request to Clerk.
///
/// # Errors
/// [`HostError::Engine`] for a bad publishable key or an unwritable index;
/// [`HostError::Demo`] when the demo instance cannot start.
pub async fn open(settings: &Settings, options: OpenOptions) -> Result<Host, HostError> {
    let store = options
        .store
        .unwrap_or_else(|| platform_store(&settings.keychain_service));
    let mut cfg = EngineConfig::new(
        settings.data_dir.clone(),
        Keychain::new(store, KEYCHAIN_TIMEOUT),
    );
    cfg.probe_storage = options.probe_storage;
    // The data dir is the user's alone (0700), made so before anything
    // (the demo instance's state, the display cache) is written in it.
    if let Err(e) = latchkey_core::private_fs::private_dir(&settings.data_dir) {
        tracing::warn!("could not make the data dir private: {e}");
    }
    let engine = Engine::open(cfg).await?;
    if let Some(pk) = &settings.publishable_key {
        let inst = Instance::from_publishable_key(pk)?;
        engine.set_templates(inst.id(), settings.templates.clone());
        engine.add_instance(inst).await?;
    }
    let mut demo = None;
    if engine.needs_local_demo().await {
        // One emulator per data dir: start it, or attach to the one the
        // app (or another CLI call) runs.
        let (info, handle) = Emulator::start_or_attach_demo(&settings.data_dir)
            .await?
            .into_parts();
        demo = handle;
        let inst = Instance::local_demo(
            &info.frontend_api_url,
            &info.instance_id,
            &info.publishable_key,
        )?;
        engine.set_templates(
            inst.id(),
            Seed::demo().jwt_templates.keys().cloned().collect(),
        );
        // Reconcile: a local demo instance in secure storage that is not
        // this data dir's (its data is gone: the dir was deleted or
        // replaced) can never answer again; it is dropped with its secrets
        // instead of showing as a dead, offline instance.
        for old in engine.instances().await {
            if old.kind() == InstanceKind::LocalDemo && old.id() != inst.id() {
                tracing::info!(
                    instance = old.id(),
                    "dropping a local demo instance whose data is gone"
                );
                engine.forget_instance(old.id()).await;
            }
        }
        engine.add_instance(inst).await?;
    }
    let stop = options.background.then(|| {
        let (stop, rx) = watch::channel(false);
        engine.start_background(rx);
        stop
    });
    Ok(Host {
        engine,
        demo: std::sync::Mutex::new(demo),
        data_dir: settings.data_dir.clone(),
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| {
            vars.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn data_dir_follows_the_environment() {
        let e = env(&[("HOME", "/home/u")]);
        assert_eq!(data_dir(&e), PathBuf::from("/home/u/.local/share/latchkey"));
        let e = env(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "/x")]);
        assert_eq!(data_dir(&e), PathBuf::from("/x/latchkey"));
        let e = env(&[("LATCHKEY_DATA_DIR", "/d"), ("XDG_DATA_HOME", "/x")]);
        assert_eq!(data_dir(&e), PathBuf::from("/d"));
        let e = env(&[("LATCHKEY_DATA_DIR", ""), ("HOME", "/h")]);
        assert_eq!(data_dir(&e), PathBuf::from("/h/.local/share/latchkey"));
    }

    #[test]
    fn settings_from_the_environment() {
        let s = Settings::from_env(&env(&[("HOME", "/h")]));
        assert_eq!(s.keychain_service, KEYCHAIN_SERVICE);
        assert_eq!(s.publishable_key, None);
        assert!(s.templates.is_empty());
        let s = Settings::from_env(&env(&[
            ("HOME", "/h"),
            ("LATCHKEY_KEYCHAIN_SERVICE", "test.service"),
            ("LATCHKEY_PUBLISHABLE_KEY", "pk_test_x"),
            ("LATCHKEY_TEMPLATES", " supabase, ,api "),
        ]));
        assert_eq!(s.keychain_service, "test.service");
        assert_eq!(s.publishable_key.as_deref(), Some("pk_test_x"));
        assert_eq!(s.templates, vec!["supabase", "api"]);
    }
}

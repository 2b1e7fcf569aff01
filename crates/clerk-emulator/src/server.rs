//! Starting, serving and stopping an emulator; the one-process-per-data-dir
//! lock.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::ServiceExt as _;
use axum::extract::Request;
use axum::routing::{delete, get, post};
use base64::Engine;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::keys::{KeyError, KeyMaterial, Keys};
use crate::state::{AppState, Inner, Settings};
use crate::store::{Db, StoreError};
use crate::{bapi, context, fapi, pages};

/// Name of the state file inside a data dir.
pub const STATE_FILE: &str = "state.json";
/// Name of the lock file inside a data dir.
pub const LOCK_FILE: &str = "emulator.lock";

/// How to reach a running emulator: what `--json` prints and what the lock
/// file holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmulatorInfo {
    /// `http://127.0.0.1:<port>`: the Frontend API, the issuer of its
    /// tokens, and the origin of its pages.
    pub frontend_api_url: String,
    /// `<frontend_api_url>/bapi` (append `/v1/…`).
    pub backend_api_url: String,
    /// `pk_test_…` naming the host and port; travels with the URL.
    pub publishable_key: String,
    /// `sk_test_…`, for the Backend API (and the test controls).
    pub secret_key: String,
    /// `ins_…`: the `kid` of its signing key and its stable identity.
    pub instance_id: String,
    /// Process that serves it (lock file only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl std::fmt::Display for EmulatorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Frontend API URL: {}", self.frontend_api_url)?;
        writeln!(f, "Backend API URL:  {}", self.backend_api_url)?;
        writeln!(f, "Publishable key:  {}", self.publishable_key)?;
        writeln!(f, "Secret key:       {}", self.secret_key)?;
        write!(f, "Instance id:      {}", self.instance_id)
    }
}

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The bind address is not loopback and that was not allowed.
    #[error(
        "refusing to listen on non-loopback address {0}; pass --allow-non-loopback to do it anyway"
    )]
    NonLoopback(SocketAddr),
    /// The address could not be bound (a port in use, say).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The data dir cannot be created, read or locked.
    #[error("cannot use data dir {path}: {source}")]
    DataDir {
        /// The data dir.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Another emulator process holds the data dir's lock.
    #[error("data dir {path} is in use by another emulator process")]
    Locked {
        /// The data dir.
        path: String,
        /// What its lock file says about the running one, when readable.
        running: Option<Box<EmulatorInfo>>,
    },
    /// The persisted state could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The signing keys could not be generated or loaded.
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// `pk_test_` + base64(`<host:port>$`), without padding, the shape Clerk's
/// SDKs parse (`@clerk/shared` `keys.ts`). It only ever travels together
/// with the URL; nothing derives a loopback URL from it.
pub fn publishable_key(base_url: &str) -> String {
    let host = base_url
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(base_url);
    format!(
        "pk_test_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{host}$"))
    )
}

/// Entry point: `Emulator::start(config)`.
pub struct Emulator;

/// Either a started emulator or the one already serving a data dir.
pub enum Local {
    /// This process started it: keep the handle alive while it is needed.
    Started(EmulatorHandle),
    /// Another process serves the data dir; this is how to reach it.
    Attached(EmulatorInfo),
}

impl Local {
    /// Where it is, and the handle to keep alive when this process started it.
    pub fn into_parts(self) -> (EmulatorInfo, Option<EmulatorHandle>) {
        match self {
            Local::Started(h) => (h.info().clone(), Some(h)),
            Local::Attached(info) => (info, None),
        }
    }
}

impl Emulator {
    /// Binds, loads or seeds the instance, and serves it in the background.
    ///
    /// # Errors
    /// A non-loopback bind address without `allow_non_loopback`, a port in
    /// use, an unusable or locked data dir, or corrupt persisted state.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, StartError> {
        if !config.bind.ip().is_loopback() && !config.allow_non_loopback {
            return Err(StartError::NonLoopback(config.bind));
        }
        let (db, lock, state_path) = match &config.data_dir {
            Some(dir) => {
                let dd = |source| StartError::DataDir {
                    path: dir.display().to_string(),
                    source,
                };
                private_dir(dir).map_err(dd)?;
                let lock = take_lock(dir)?;
                let path = dir.join(STATE_FILE);
                let db = match Db::load(&path)? {
                    Some(db) => db,
                    None => new_db(&config)?,
                };
                (db, Some(lock), Some(path))
            }
            None => (new_db(&config)?, None, None),
        };
        let mut db = db;
        if let Some(single) = config.single_session_mode {
            db.single_session_mode = single;
        }
        for email in &config.mfa_users {
            if let Some(u) = db
                .users
                .values_mut()
                .find(|u| u.email.eq_ignore_ascii_case(email))
            {
                u.mfa = true;
            }
        }
        // Reuse the last port when free, so URLs stay the same across runs.
        let listener = match (config.bind.port(), db.last_port) {
            (0, Some(p)) => match TcpListener::bind(SocketAddr::new(config.bind.ip(), p)).await {
                Ok(l) => l,
                Err(_) => bind(config.bind).await?,
            },
            _ => bind(config.bind).await?,
        };
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.bind,
            source,
        })?;
        db.last_port = Some(addr.port());
        let base_url = format!("http://{addr}");
        let keys = Keys::new(&db.instance_id, &db.keys)?;
        let settings = Settings {
            token_lifetime_secs: config.token_lifetime.as_secs().max(1) as i64,
            rate_limits: AtomicBool::new(config.rate_limits),
            reverification_minutes: config.reverification_minutes,
            reverification_level: config.reverification_level,
            session_tasks: config.session_tasks.clone(),
            client_trust: config.client_trust,
            redirect_allowlist: config.redirect_allowlist.clone(),
            allow_loopback_redirects: config.allow_loopback_redirects,
            native_api_enabled: config.native_api_enabled,
            lifetimes: config.lifetimes.clone(),
            // On loopback, only requests addressed to this server by name
            // are answered: a page whose DNS name points at 127.0.0.1 (DNS
            // rebinding) sends its own name in `Host`.
            own_hosts: addr
                .ip()
                .is_loopback()
                .then(|| vec![addr.to_string(), format!("localhost:{}", addr.port())]),
        };
        if let Some(path) = &state_path {
            db.save(path)?;
        }
        let state: AppState =
            Arc::new(Inner::new(db, keys, settings, base_url.clone(), state_path));
        let info = EmulatorInfo {
            frontend_api_url: base_url.clone(),
            backend_api_url: format!("{base_url}/bapi"),
            publishable_key: publishable_key(&base_url),
            secret_key: state.secret_key.clone(),
            instance_id: state.instance_id.clone(),
            pid: None,
        };
        let lock = match (lock, &config.data_dir) {
            (Some(mut f), Some(_)) => {
                let mut with_pid = info.clone();
                with_pid.pid = Some(std::process::id());
                let text = serde_json::to_vec(&with_pid).unwrap_or_default();
                // The lock is held on this open file; rewrite its contents.
                f.set_len(0).ok();
                f.write_all(&text).ok();
                f.sync_all().ok();
                Some(f)
            }
            _ => None,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let svc = app(state.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                svc.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                rx.await.ok();
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        tracing::info!(url = %base_url, instance = %info.instance_id, "local Clerk emulator listening");
        Ok(EmulatorHandle {
            state,
            addr,
            info,
            shutdown: Some(tx),
            task: Some(task),
            _lock: lock,
        })
    }

    /// The local demo instance of a Latchkey data dir (`<dir>/local-demo`,
    /// seeded with the demo users): started, or attached to when the app or
    /// the CLI already runs it.
    pub async fn start_or_attach_demo(
        latchkey_data_dir: &std::path::Path,
    ) -> Result<Local, StartError> {
        Self::start_or_attach(EmulatorConfig {
            data_dir: Some(latchkey_data_dir.join("local-demo")),
            seed: crate::Seed::demo(),
            ..EmulatorConfig::default()
        })
        .await
    }

    /// Starts an emulator on `config.data_dir`, or returns the running one
    /// that holds the data dir's lock (the app and the CLI share one).
    pub async fn start_or_attach(config: EmulatorConfig) -> Result<Local, StartError> {
        match Self::start(config).await {
            Ok(h) => Ok(Local::Started(h)),
            Err(StartError::Locked {
                path,
                running: Some(info),
            }) => {
                let _ = path;
                Ok(Local::Attached(*info))
            }
            Err(e) => Err(e),
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn new_db(config: &EmulatorConfig) -> Result<Db, StartError> {
    let keys = match &config.key_material {
        Some(k) => k.clone(),
        None => KeyMaterial::generate()?,
    };
    let now = crate::clock::Clock::default().now_ms();
    Ok(Db::from_seed(&config.seed, keys, now))
}

/// Takes the data dir's exclusive lock, or reports who holds it.
fn take_lock(dir: &Path) -> Result<File, StartError> {
    let path = dir.join(LOCK_FILE);
    let dd = |source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    // The lock file carries the secret key for attachers: owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(&path).map_err(dd)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            // The holder writes its info right after taking the lock; give
            // it a moment if we raced it.
            let mut running = None;
            for _ in 0..50 {
                running = read_lock(dir);
                if running.is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(StartError::Locked {
                path: dir.display().to_string(),
                running: running.map(Box::new),
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(dd(e)),
    }
}

/// What the lock file of `dir` says about the running emulator.
pub fn read_lock(dir: &Path) -> Option<EmulatorInfo> {
    let text = std::fs::read(dir.join(LOCK_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The full service: the request prelude around the router.
pub(crate) fn app(
    state: AppState,
) -> impl tower::Service<
    Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone
+ Send
+ Sync
+ 'static {
    use tower::Layer;
    axum::middleware::from_fn_with_state(state.clone(), context::prelude).layer(router(state))
}

fn router(state: AppState) -> Router {
    let fapi = Router::new()
        .route("/v1/environment", get(fapi::environment))
        .route(
            "/v1/client",
            get(fapi::get_client)
                .put(fapi::create_client)
                .post(fapi::create_client)
                .delete(fapi::delete_client),
        )
        .route("/v1/client/sessions", delete(fapi::delete_client_sessions))
        .route("/v1/client/hosted_auth", post(fapi::hosted_auth))
        .route("/v1/client/sign_ins", post(fapi::create_sign_in))
        .route("/v1/client/sign_ins/{id}", get(fapi::get_sign_in))
        .route(
            "/v1/client/sign_ins/{id}/attempt_first_factor",
            post(fapi::attempt_first_factor),
        )
        .route(
            "/v1/client/sign_ins/{id}/attempt_second_factor",
            post(fapi::attempt_second_factor),
        )
        .route("/v1/client/sign_ups", post(fapi::create_sign_up))
        .route(
            "/v1/client/sign_ups/{id}/prepare_verification",
            post(fapi::prepare_sign_up_verification),
        )
        .route(
            "/v1/client/sign_ups/{id}/attempt_verification",
            post(fapi::attempt_sign_up_verification),
        )
        // POST too: clerk-js can send reads as POST with `_method=GET`.
        .route(
            "/v1/client/sessions/{id}",
            get(fapi::get_session).post(fapi::get_session),
        )
        .route("/v1/client/sessions/{id}/touch", post(fapi::touch_session))
        .route("/v1/client/sessions/{id}/tokens", post(fapi::create_token))
        .route(
            "/v1/client/sessions/{id}/tokens/{template}",
            post(fapi::create_template_token),
        )
        .route("/v1/client/sessions/{id}/end", post(fapi::end_session))
        .route(
            "/v1/client/sessions/{id}/remove",
            post(fapi::remove_session),
        )
        .route("/v1/me", get(fapi::me))
        .route("/v1/me/sessions/active", get(fapi::me_active_sessions))
        .route("/v1/me/sessions", get(fapi::me_sessions))
        .route("/v1/me/sessions/{id}/revoke", post(fapi::me_revoke_session))
        .route(
            "/v1/organizations/{id}/memberships",
            get(fapi::org_memberships),
        )
        .route("/v1/tickets/accept", get(pages::accept_ticket))
        .route("/.well-known/jwks.json", get(fapi::jwks));

    let bapi = Router::new()
        .route("/v1/users", post(bapi::create_user).get(bapi::list_users))
        .route("/v1/sign_in_tokens", post(bapi::create_sign_in_token))
        .route(
            "/v1/sign_in_tokens/{id}/revoke",
            post(bapi::revoke_sign_in_token),
        )
        .route(
            "/v1/sessions",
            get(bapi::list_sessions).post(bapi::create_session),
        )
        .route("/v1/sessions/{id}", get(bapi::get_session))
        .route("/v1/sessions/{id}/revoke", post(bapi::revoke_session))
        .route("/v1/jwks", get(bapi::jwks))
        .fallback(bapi::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            bapi::auth,
        ));

    let pages = Router::new()
        .route("/", get(pages::index))
        .route(
            "/hosted/sign-in",
            get(pages::hosted_sign_in_page).post(pages::hosted_sign_in_submit),
        )
        .route(
            "/oauth/{provider}/authorize",
            get(pages::oauth_page).post(pages::oauth_submit),
        )
        .route("/demo", get(pages::demo_page))
        .route("/demo/sign-in", post(pages::demo_sign_in))
        .route("/demo/sign-out", post(pages::demo_sign_out))
        .route("/demo/handoff", post(pages::demo_handoff))
        .route("/avatars/{file}", get(pages::avatar));

    let router = Router::new().merge(fapi).nest("/bapi", bapi).merge(pages);
    #[cfg(feature = "test-controls")]
    let router = router.nest("/__emulator", controls_router(state.clone()));
    router.fallback(bapi::not_found).with_state(state)
}

#[cfg(feature = "test-controls")]
fn controls_router(state: AppState) -> Router<AppState> {
    use crate::controls as c;
    Router::new()
        .route("/requests", get(c::get_requests).delete(c::clear_requests))
        .route("/faults", post(c::add_fault).delete(c::clear_faults))
        .route("/clock", get(c::get_clock).post(c::advance_clock))
        .route("/rate_limits", post(c::set_rate_limits))
        .layer(axum::middleware::from_fn_with_state(state, bapi::auth))
}

/// A running emulator. Dropping it stops the server.
pub struct EmulatorHandle {
    state: AppState,
    addr: SocketAddr,
    info: EmulatorInfo,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _lock: Option<File>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:<port>`: FAPI base URL and token issuer.
    pub fn frontend_api_url(&self) -> &str {
        &self.info.frontend_api_url
    }

    /// `http://127.0.0.1:<port>/bapi` (append `/v1/...`).
    pub fn backend_api_url(&self) -> &str {
        &self.info.backend_api_url
    }

    /// The instance's publishable key (`pk_test_…`).
    pub fn publishable_key(&self) -> &str {
        &self.info.publishable_key
    }

    /// The instance's secret key (`sk_test_…`), for the Backend API.
    pub fn secret_key(&self) -> &str {
        &self.info.secret_key
    }

    /// The instance id (`ins_…`).
    pub fn instance_id(&self) -> &str {
        &self.info.instance_id
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything needed to reach it.
    pub fn info(&self) -> &EmulatorInfo {
        &self.info
    }

    /// The data dir's state file, when persisting.
    pub fn state_path(&self) -> Option<&PathBuf> {
        self.state.state_path.as_ref()
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the server stops (for the binary).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

#[cfg(feature = "test-controls")]
impl EmulatorHandle {
    /// The whole HTTP service, for in-process requests
    /// (`tower::ServiceExt::oneshot`) without a socket.
    pub fn service(
        &self,
    ) -> impl tower::Service<
        Request,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static {
        app(self.state.clone())
    }

    /// Moves the emulator's clock.
    pub fn advance_clock(&self, by: std::time::Duration) {
        self.state.clock.advance_ms(by.as_millis() as i64);
    }

    /// Switches single-session mode (as a Dashboard change would): new
    /// sign-ins on a client that holds a session are then refused with
    /// `session_exists`.
    pub fn set_single_session_mode(&self, on: bool) {
        let mut db = self.state.db();
        db.single_session_mode = on;
        self.state.persist(&db);
    }

    /// Moves the emulator's clock back (its `Date`, tokens and expiry
    /// follow), e.g. to stand for a local clock that is fast.
    pub fn rewind_clock(&self, by: std::time::Duration) {
        self.state.clock.advance_ms(-(by.as_millis() as i64));
    }

    /// Rotates the signing key: tokens are signed with a new RSA key from
    /// now on, and the JWKS publishes it beside the earlier ones (in memory
    /// only). Returns the new key's `kid`.
    pub fn rotate_signing_key(&self) -> Result<String, crate::KeyError> {
        self.state.keys.rotate()
    }

    /// The emulator's current time (ms).
    pub fn now_ms(&self) -> i64 {
        self.state.clock.now_ms()
    }

    /// Adds a fault rule (see [`crate::FaultRule`]).
    pub fn add_fault(&self, rule: crate::controls::FaultRule) {
        self.state.controls.add_fault(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.state.controls.clear_faults();
    }

    /// Every request served so far (admin requests excluded).
    pub fn requests(&self) -> Vec<crate::controls::LoggedRequest> {
        self.state.controls.requests()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.state.controls.clear_requests();
    }

    /// Switches Clerk's per-IP rate limits on or off.
    pub fn set_rate_limits(&self, enabled: bool) {
        self.state.set_rate_limits(enabled);
    }

    /// A session's status as stored (`active`, `revoked`, …).
    pub fn session_status(&self, session_id: &str) -> Option<String> {
        self.state
            .db()
            .sessions
            .get(session_id)
            .map(|s| s.status.as_str().to_owned())
    }

    /// A user's session ids, oldest first.
    pub fn sessions_of(&self, user_id: &str) -> Vec<String> {
        let db = self.state.db();
        let mut s: Vec<(i64, String)> = db
            .sessions
            .values()
            .filter(|s| s.user_id == user_id)
            .map(|s| (s.created_at, s.id.clone()))
            .collect();
        s.sort();
        s.into_iter().map(|(_, id)| id).collect()
    }

    /// Number of sessions the instance holds.
    pub fn session_count(&self) -> usize {
        self.state.db().sessions.len()
    }

    /// A user's id by email.
    pub fn user_id(&self, email: &str) -> Option<String> {
        self.state.db().user_by_email(email).map(|u| u.id.clone())
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The build users run has no test controls: their routes do not exist.
#[cfg(all(test, not(feature = "test-controls")))]
mod shipped {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn shipped_build_has_no_test_controls() {
        let cfg = EmulatorConfig {
            seed: crate::Seed::empty(),
            ..EmulatorConfig::default()
        };
        let emu = Emulator::start(cfg).await.unwrap();
        for path in [
            "/__emulator/requests",
            "/__emulator/faults",
            "/__emulator/clock",
        ] {
            let req = Request::builder()
                .uri(path)
                .header("authorization", format!("Bearer {}", emu.secret_key()))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app(emu.state.clone()).oneshot(req).await.unwrap();
            assert_eq!(res.status(), axum::http::StatusCode::NOT_FOUND, "{path}");
        }
    }
}

/// Creates the data dir 0700 (it holds the signing key), narrowing one
/// that exists wider.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

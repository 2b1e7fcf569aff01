//! The running app answers the CLI's read requests (`latchkey token`,
//! `latchkey status`) over a Unix socket, so a script gets a token in a few
//! milliseconds without opening the keychain or calling Clerk.
//!
//! - Where: `$XDG_RUNTIME_DIR/latchkey/<id>.sock` (the runtime dir is the
//!   user's own, 0700 by the XDG spec), else `<data dir>/run/app.sock`; the
//!   `latchkey` / `run` directory is created 0700 and the socket 0600. `<id>`
//!   is derived from the data dir and the keychain service, so each pair
//!   (the accounts an app and a CLI share) has its own.
//! - Who: the server answers only a peer with its own uid (the kernel's
//!   peer credentials, `SO_PEERCRED`); anyone else gets a refusal and
//!   nothing else.
//! - What: one JSON line in, one JSON line out: `status` (what `latchkey
//!   status` shows) or `token` for an account the client picked from that
//!   status. Nothing that changes anything is served.
//! - Failure: no socket, a stale one (nobody listening), a refusal, an
//!   answer that does not parse or a connection closed mid-request all make
//!   the client return `None`, and the CLI does the work itself as before.
//!   Connecting to a stale socket fails at once; every read and write has a
//!   deadline.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use latchkey_core::engine::{Account, AccountRef, Engine, OrgSel, StorageState};
use latchkey_core::{Error, ErrorKind, InstanceKind, OrganizationId};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// The protocol's version (a request of another version is refused).
pub const VERSION: u32 = 1;
/// The longest request line read.
const MAX_REQUEST: u64 = 16 * 1024;
/// The longest answer line read (a status with many accounts).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;
/// How long the server waits for a client's request line.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// Where the socket lives for a data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The private (0700) directory that holds it.
    pub dir: PathBuf,
    /// The socket.
    pub path: PathBuf,
}

/// The socket's place for these settings' data dir and keychain service,
/// from the environment (`XDG_RUNTIME_DIR`).
pub fn place(settings: &crate::Settings, env: &dyn Fn(&str) -> Option<OsString>) -> Place {
    let data_dir = settings.data_dir.as_path();
    let runtime = env("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir());
    match runtime {
        Some(r) => {
            let dir = r.join("latchkey");
            let path = dir.join(format!(
                "{}.sock",
                place_id(data_dir, &settings.keychain_service)
            ));
            Place { dir, path }
        }
        None => {
            let dir = data_dir.join("run");
            let path = dir.join("app.sock");
            Place { dir, path }
        }
    }
}

/// A short, stable name for a data dir and keychain service (FNV-1a: not a
/// secret, only a way to keep two sets of accounts' sockets apart).
fn place_id(data_dir: &Path, service: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = data_dir.as_os_str().as_encoded_bytes().iter();
    for b in bytes.chain(&[0u8]).chain(service.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// What `latchkey status` shows.
    Status {
        /// The protocol version.
        v: u32,
    },
    /// A token for an account of that status.
    Token {
        /// The protocol version.
        v: u32,
        /// Which account.
        account: AccountRef,
        /// A JWT template's name.
        template: Option<String>,
        /// `personal`, an `org_…` id, or none for the active organization.
        org: Option<String>,
    },
}

/// One instance, as `latchkey status` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// Its id.
    pub id: String,
    /// Clerk instance or the local demo.
    pub kind: InstanceKind,
    /// Its Frontend API, without the trailing slash.
    pub frontend_api: String,
    /// Its application name, once known.
    pub name: Option<String>,
}

/// What `latchkey status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusData {
    /// Clerk answered the last request.
    pub online: bool,
    /// Secure storage.
    pub storage: StorageState,
    /// The instances.
    pub instances: Vec<InstanceInfo>,
    /// The active account.
    pub active: Option<AccountRef>,
    /// The signed-in accounts.
    pub accounts: Vec<Account>,
}

impl StatusData {
    /// Reads it from an engine (loading instance names, which may ask
    /// Clerk once per instance).
    pub async fn gather(engine: &Engine) -> Self {
        let instances = engine.instances().await;
        for i in &instances {
            // Names for the listing; offline, the host name stands in.
            let _ = engine.load_environment(i.id()).await;
        }
        let mut infos = Vec::new();
        for i in &instances {
            let name = engine
                .environment(i.id())
                .await
                .and_then(|e| e.application_name().map(str::to_owned));
            infos.push(InstanceInfo {
                id: i.id().to_owned(),
                kind: i.kind(),
                frontend_api: i.frontend_api().as_str().trim_end_matches('/').to_owned(),
                name,
            });
        }
        Self {
            online: engine.online(),
            storage: engine.storage_state(),
            instances: infos,
            active: engine.active(),
            accounts: engine.accounts().await,
        }
    }
}

/// One answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    Status { status: StatusData },
    Token { token: String },
    Error { kind: ErrorKind, message: String },
    Refused { message: String },
}

/// The organization selector of a request (`personal`, `org_…`, none).
/// A slug needs the account's memberships: the client resolves it itself.
pub fn org_sel(org: Option<&str>) -> Option<OrgSel> {
    match org {
        None => Some(OrgSel::Active),
        Some("personal") => Some(OrgSel::Personal),
        Some(o) if o.starts_with("org_") => Some(OrgSel::Org(OrganizationId(o.to_owned()))),
        Some(_) => None,
    }
}

/// The app's server: answers until dropped (then the socket is removed).
pub struct Server {
    task: tokio::task::JoinHandle<()>,
    path: PathBuf,
    refused: Arc<AtomicUsize>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Server {
    /// The socket it listens on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many connections from another user it refused.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

/// The uid that owns this process's files (the effective uid): the owner of
/// the directory it just created.
fn own_uid(dir: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(dir)?.uid())
}

/// Starts answering at `place` (in the runtime's current Tokio runtime).
///
/// # Errors
/// The directory cannot be made private, another live process already
/// answers there, or the socket cannot be bound.
pub async fn serve(engine: Engine, place: &Place) -> std::io::Result<Server> {
    latchkey_core::private_fs::private_dir(&place.dir)?;
    let uid = own_uid(&place.dir)?;
    if place.path.exists() {
        if UnixStream::connect(&place.path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another Latchkey already answers on this socket",
            ));
        }
        // Stale: nobody listens.
        std::fs::remove_file(&place.path)?;
    }
    let listener = UnixListener::bind(&place.path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&place.path, std::fs::Permissions::from_mode(0o600))?;
    }
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    let task = tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: do not spin on it.
                    tracing::debug!("the CLI socket could not accept: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let engine = engine.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(stream, &engine, uid, &counter).await {
                    tracing::debug!("a CLI request was not answered: {e}");
                }
            });
        }
    });
    Ok(Server {
        task,
        path: place.path.clone(),
        refused,
    })
}

/// Answers one connection.
async fn answer(
    stream: UnixStream,
    engine: &Engine,
    uid: u32,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    if peer.uid() != uid {
        refused.fetch_add(1, Ordering::SeqCst);
        tracing::warn!(
            peer_uid = peer.uid(),
            "refused a request on the CLI socket from another user"
        );
        let refusal = Answer::Refused {
            message: "this Latchkey answers only its own user".to_owned(),
        };
        return send(&mut write, &refusal).await;
    }
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST);
    tokio::time::timeout(REQUEST_DEADLINE, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let answer = match serde_json::from_str::<Request>(line.trim_end()) {
        Ok(Request::Status { v }) if v == VERSION => Answer::Status {
            status: StatusData::gather(engine).await,
        },
        Ok(Request::Token {
            v,
            account,
            template,
            org,
        }) if v == VERSION => match org_sel(org.as_deref()) {
            Some(org) => match engine.get_token(&account, template.as_deref(), org).await {
                Ok(t) => Answer::Token {
                    token: t.expose().to_owned(),
                },
                Err(e) => Answer::Error {
                    kind: e.kind().clone(),
                    message: e.to_string(),
                },
            },
            None => Answer::Refused {
                message: "an organization slug is resolved by the client".to_owned(),
            },
        },
        Ok(_) => Answer::Refused {
            message: format!("this Latchkey speaks version {VERSION}"),
        },
        Err(_) => Answer::Refused {
            message: "not a request".to_owned(),
        },
    };
    send(&mut write, &answer).await
}

async fn send(w: &mut tokio::net::unix::OwnedWriteHalf, a: &Answer) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(a).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    w.write_all(&bytes).await?;
    w.shutdown().await
}

/// The CLI's side.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
    deadline: Duration,
}

impl Client {
    /// A client of the app at `place`, waiting at most `deadline` for an
    /// answer (a token may need a refresh from Clerk: seconds, not ms).
    pub fn new(place: &Place, deadline: Duration) -> Self {
        Self {
            path: place.path.clone(),
            deadline,
        }
    }

    /// What `latchkey status` shows, from the running app; `None` when no
    /// app answers (the caller does it itself).
    pub async fn status(&self) -> Option<StatusData> {
        match self.ask(&Request::Status { v: VERSION }).await? {
            Answer::Status { status } => Some(status),
            _ => None,
        }
    }

    /// A token from the running app: `None` when no app answers, else the
    /// token or the engine's error (the same the CLI would get itself).
    pub async fn token(
        &self,
        account: &AccountRef,
        template: Option<&str>,
        org: Option<&str>,
    ) -> Option<Result<latchkey_core::SessionToken, Error>> {
        let req = Request::Token {
            v: VERSION,
            account: account.clone(),
            template: template.map(str::to_owned),
            org: org.map(str::to_owned),
        };
        match self.ask(&req).await? {
            Answer::Token { token } => Some(Ok(latchkey_core::SessionToken::new(token))),
            Answer::Error { kind, message } => Some(Err(Error::new(kind, message))),
            _ => None,
        }
    }

    async fn ask(&self, req: &Request) -> Option<Answer> {
        let exchange = async {
            let mut stream = UnixStream::connect(&self.path).await.ok()?;
            let mut line = serde_json::to_vec(req).ok()?;
            line.push(b'\n');
            stream.write_all(&line).await.ok()?;
            let mut answer = String::new();
            BufReader::new(stream)
                .take(MAX_ANSWER)
                .read_line(&mut answer)
                .await
                .ok()?;
            serde_json::from_str::<Answer>(answer.trim_end()).ok()
        };
        match tokio::time::timeout(self.deadline, exchange).await {
            Ok(Some(Answer::Refused { message })) => {
                tracing::debug!("the running app refused: {message}");
                None
            }
            Ok(a) => a,
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_dir_is_used_when_there_is_one() {
        let tmp = std::env::temp_dir();
        let runtime = |k: &str| (k == "XDG_RUNTIME_DIR").then(|| tmp.clone().into());
        let settings = |dir: &str, service: &str| crate::Settings {
            data_dir: PathBuf::from(dir),
            keychain_service: service.to_owned(),
            ..crate::Settings::from_env(&|_| None)
        };
        let ada = settings("/home/ada/.local/share/latchkey", "dev.latchkey.desktop");
        let p = place(&ada, &runtime);
        assert_eq!(p.dir, tmp.join("latchkey"));
        assert!(p.path.starts_with(&p.dir));
        assert!(p.path.to_string_lossy().ends_with(".sock"));
        for other in [
            settings("/elsewhere", "dev.latchkey.desktop"),
            settings("/home/ada/.local/share/latchkey", "another.service"),
        ] {
            assert_ne!(
                p.path,
                place(&other, &runtime).path,
                "one socket per set of accounts"
            );
        }
        // No runtime dir (or a relative one): under the data dir.
        for env in [None, Some(OsString::from("relative/run"))] {
            let p = place(&ada, &|_| env.clone());
            assert_eq!(p.path, ada.data_dir.join("run").join("app.sock"));
        }
    }

    #[test]
    fn org_selectors_a_server_answers() {
        assert_eq!(org_sel(None), Some(OrgSel::Active));
        assert_eq!(org_sel(Some("personal")), Some(OrgSel::Personal));
        assert_eq!(
            org_sel(Some("org_1")),
            Some(OrgSel::Org(OrganizationId("org_1".into())))
        );
        assert_eq!(
            org_sel(Some("acme")),
            None,
            "a slug: the client resolves it"
        );
    }
}

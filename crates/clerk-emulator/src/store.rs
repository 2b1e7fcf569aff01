//! The instance's state and the transitions Clerk's API performs on it.
//!
//! One `Db` per instance, behind one mutex in `AppState`. Handlers take the
//! lock, apply a transition, render, and drop it; nothing awaits while the
//! lock is held. With `--data-dir` the whole `Db` is written (atomically,
//! temp file + rename) after every request that changed it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ids::{new_id, random_base62, random_token};
use crate::keys::KeyMaterial;
use crate::model::*;
use crate::seed::Seed;

/// Session and attempt lifetimes, in milliseconds.
#[derive(Debug, Clone)]
pub struct Lifetimes {
    /// Maximum session lifetime (`expire_at`); Clerk's default is 7 days.
    pub session_ms: i64,
    /// Inactivity cut-off (`abandon_at`); Clerk's client default is 30 days.
    pub abandon_ms: i64,
    /// How long a `rotating_token_nonce` can be redeemed.
    pub nonce_ms: i64,
    /// How long a hosted-auth attempt stays open.
    pub hosted_auth_ms: i64,
    /// How long an unfinished sign-in stays usable.
    pub sign_in_ms: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            session_ms: 7 * 24 * 3600 * 1000,
            abandon_ms: 30 * 24 * 3600 * 1000,
            nonce_ms: 5 * 60 * 1000,
            hosted_auth_ms: 10 * 60 * 1000,
            sign_in_ms: 24 * 3600 * 1000,
        }
    }
}

/// Everything an instance stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Db {
    pub format: u32,
    pub instance_id: String,
    pub secret_key: String,
    pub keys: KeyMaterial,
    pub application_name: String,
    pub single_session_mode: bool,
    pub created_at: i64,
    pub users: BTreeMap<String, User>,
    pub orgs: BTreeMap<String, Organization>,
    pub memberships: Vec<Membership>,
    pub roles: Vec<Role>,
    pub clients: HashMap<String, Client>,
    pub sessions: HashMap<String, Session>,
    pub sign_ins: HashMap<String, SignIn>,
    pub sign_ups: HashMap<String, SignUp>,
    pub hosted: HashMap<String, HostedAuth>,
    pub sign_in_tokens: HashMap<String, SignInToken>,
    pub ip_locations: BTreeMap<String, Location>,
    pub templates: BTreeMap<String, JwtTemplate>,
    /// The port the instance listened on last (reused when free).
    pub last_port: Option<u16>,
}

/// Persisted-state format version.
const FORMAT: u32 = 1;

/// Why persisted state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The state file cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The state file was written by a newer version (it is left as it is).
    #[error(
        "{path} was written by a newer version of the emulator (state format {found}; this \
         version reads format {supported}): it is left as it is. Update Latchkey, or point the \
         emulator at another data directory"
    )]
    Newer {
        /// The file.
        path: String,
        /// Its format.
        found: u64,
        /// The format this version reads.
        supported: u32,
    },
    /// The state file is not ours or is damaged (it is left as it is).
    #[error("{path} is not a valid emulator state file: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What the parser said.
        message: String,
    },
}

impl Db {
    /// A new instance populated from a seed.
    pub fn from_seed(seed: &Seed, keys: KeyMaterial, now: i64) -> Self {
        let mut db = Db {
            format: FORMAT,
            instance_id: new_id("ins"),
            secret_key: format!("sk_test_{}", random_base62(40)),
            keys,
            application_name: seed.instance.application_name.clone(),
            single_session_mode: seed.instance.single_session_mode,
            created_at: now,
            users: BTreeMap::new(),
            orgs: BTreeMap::new(),
            memberships: Vec::new(),
            roles: Vec::new(),
            clients: HashMap::new(),
            sessions: HashMap::new(),
            sign_ins: HashMap::new(),
            sign_ups: HashMap::new(),
            hosted: HashMap::new(),
            sign_in_tokens: HashMap::new(),
            ip_locations: seed.ip_locations.clone(),
            templates: seed
                .jwt_templates
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
            last_port: None,
        };
        for u in &seed.users {
            let id = db.add_user(NewUser {
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                username: u.username.clone(),
                email: u.email.clone(),
                password: u.password.clone(),
                avatar_color: u.avatar_color.clone(),
                mfa: u.mfa,
                now,
            });
            for p in &u.oauth {
                db.link_external(&id, p, now);
            }
        }
        db.roles = seed
            .roles
            .iter()
            .map(|r| Role {
                key: r.key.clone(),
                name: r.name.clone(),
                permissions: r.permissions.clone(),
            })
            .collect();
        for o in &seed.organizations {
            let org_id = new_id("org");
            db.orgs.insert(
                org_id.clone(),
                Organization {
                    id: org_id.clone(),
                    name: o.name.clone(),
                    slug: o.slug.clone(),
                    created_at: now,
                    updated_at: now,
                },
            );
            for m in &o.members {
                if let Some(uid) = db.user_by_email(&m.email).map(|u| u.id.clone()) {
                    db.memberships.push(Membership {
                        id: new_id("orgmem"),
                        org_id: org_id.clone(),
                        user_id: uid,
                        role: m.role.clone(),
                        created_at: now,
                        updated_at: now,
                    });
                }
            }
        }
        for d in &seed.other_devices {
            if let Some(uid) = db.user_by_email(&d.email).map(|u| u.id.clone()) {
                let at = now - d.last_active_minutes_ago * 60_000;
                let client = db.create_client(at);
                let sid = db.create_session(NewSession {
                    client_id: &client,
                    user_id: &uid,
                    now: at,
                    user_agent: Some(d.user_agent.clone()),
                    ip_address: Some(d.ip_address.clone()),
                    actor: d.actor.clone(),
                    org_id: None,
                    lifetimes: &Lifetimes::default(),
                    second_factor_at: None,
                    tasks: Vec::new(),
                });
                if let Some(c) = db.clients.get_mut(&client) {
                    c.last_active_session_id = Some(sid);
                }
            }
        }
        db
    }

    pub fn add_user(&mut self, u: NewUser) -> String {
        let id = new_id("user");
        let palette = [
            "#2563eb", "#7c3aed", "#0d9488", "#d97706", "#db2777", "#4f46e5",
        ];
        let color = u
            .avatar_color
            .unwrap_or_else(|| palette[self.users.len() % palette.len()].to_owned());
        self.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                first_name: u.first_name,
                last_name: u.last_name,
                username: u.username,
                email: u.email,
                email_id: new_id("idn"),
                password: u.password,
                avatar_color: color,
                external_accounts: Vec::new(),
                public_metadata: json!({}),
                created_at: u.now,
                updated_at: u.now,
                last_sign_in_at: None,
                last_active_at: None,
                mfa: u.mfa,
                tasks_done: Vec::new(),
            },
        );
        id
    }

    pub fn link_external(&mut self, user_id: &str, provider: &str, now: i64) {
        if let Some(user) = self.users.get_mut(user_id) {
            user.external_accounts.push(ExternalAccount {
                id: new_id("eac"),
                identification_id: new_id("idn"),
                provider: provider.to_owned(),
                provider_user_id: format!("{provider}-{}", random_base62(12)),
                created_at: now,
            });
        }
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// Finds a user by email or username.
    pub fn user_by_identifier(&self, ident: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(ident) || u.username.as_deref() == Some(ident))
    }

    pub fn create_client(&mut self, now: i64) -> String {
        let id = new_id("client");
        self.clients.insert(
            id.clone(),
            Client {
                id: id.clone(),
                rotating_token: random_token(24),
                last_active_session_id: None,
                sign_in_id: None,
                sign_up_id: None,
                last_authentication_strategy: None,
                ended: false,
                created_at: now,
                updated_at: now,
            },
        );
        id
    }

    /// New rotating token: older credentials stop identifying the client.
    pub fn rotate_client(&mut self, client_id: &str, now: i64) {
        if let Some(c) = self.clients.get_mut(client_id) {
            c.rotating_token = random_token(24);
            c.updated_at = now;
        }
    }

    /// Creates an active session for `user_id` on `client_id`.
    pub fn create_session(&mut self, s: NewSession<'_>) -> String {
        let id = new_id("sess");
        self.insert_session(id.clone(), s);
        id
    }

    /// Like [`create_session`](Self::create_session) with a pre-allocated id.
    pub fn insert_session(&mut self, id: String, s: NewSession<'_>) {
        self.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                client_id: s.client_id.to_owned(),
                user_id: s.user_id.to_owned(),
                // Held as pending while the user has tasks to finish.
                status: if s.tasks.is_empty() {
                    SessionStatus::Active
                } else {
                    SessionStatus::Pending
                },
                last_active_org_id: s.org_id,
                actor: s.actor,
                tasks: (!s.tasks.is_empty()).then_some(s.tasks),
                first_factor_at: s.now,
                second_factor_at: s.second_factor_at,
                user_agent: s.user_agent,
                ip_address: s.ip_address,
                expire_at: s.now + s.lifetimes.session_ms,
                abandon_at: s.now + s.lifetimes.abandon_ms,
                last_active_at: s.now,
                created_at: s.now,
                updated_at: s.now,
                token_cache: None,
            },
        );
        if let Some(u) = self.users.get_mut(s.user_id) {
            u.last_sign_in_at = Some(s.now);
            u.last_active_at = Some(s.now);
        }
        if let Some(c) = self.clients.get_mut(s.client_id) {
            c.updated_at = s.now;
        }
    }

    /// Marks sessions past `expire_at` or `abandon_at` as expired/abandoned.
    pub fn apply_expiry(&mut self, now: i64) -> bool {
        let mut changed = false;
        for s in self.sessions.values_mut() {
            if s.status.is_signed_in() {
                if now >= s.expire_at {
                    s.status = SessionStatus::Expired;
                    s.updated_at = now;
                    s.token_cache = None;
                    changed = true;
                } else if now >= s.abandon_at {
                    s.status = SessionStatus::Abandoned;
                    s.updated_at = now;
                    s.token_cache = None;
                    changed = true;
                }
            }
        }
        changed
    }

    /// Sessions that a client lists: everything but `removed` (and, in
    /// single-session mode, `revoked`), oldest first.
    pub fn client_session_ids(&self, client_id: &str) -> Vec<String> {
        let mut v: Vec<&Session> = self
            .sessions
            .values()
            .filter(|s| s.client_id == client_id)
            .filter(|s| match s.status {
                SessionStatus::Removed | SessionStatus::Replaced => false,
                SessionStatus::Revoked => !self.single_session_mode,
                _ => true,
            })
            .collect();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v.into_iter().map(|s| s.id.clone()).collect()
    }

    /// Signed-in sessions of a client.
    pub fn signed_in_on_client(&self, client_id: &str) -> Vec<&Session> {
        self.sessions
            .values()
            .filter(|s| s.client_id == client_id && s.status.is_signed_in())
            .collect()
    }

    /// Changes a session's status; drops its token cache.
    pub fn set_status(&mut self, session_id: &str, status: SessionStatus, now: i64) {
        if let Some(s) = self.sessions.get_mut(session_id) {
            s.status = status;
            s.updated_at = now;
            s.token_cache = None;
            let client_id = s.client_id.clone();
            if let Some(c) = self.clients.get_mut(&client_id) {
                c.updated_at = now;
                if c.last_active_session_id.as_deref() == Some(session_id) && !status.is_signed_in()
                {
                    c.last_active_session_id = None;
                }
            }
        }
    }

    pub fn memberships_of(&self, user_id: &str) -> Vec<&Membership> {
        self.memberships
            .iter()
            .filter(|m| m.user_id == user_id)
            .collect()
    }

    /// The membership of `user_id` in the org named by id or slug.
    pub fn membership(&self, user_id: &str, org_id_or_slug: &str) -> Option<&Membership> {
        let org = self
            .orgs
            .values()
            .find(|o| o.id == org_id_or_slug || o.slug == org_id_or_slug)?;
        self.memberships
            .iter()
            .find(|m| m.user_id == user_id && m.org_id == org.id)
    }

    pub fn role(&self, key: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.key == key)
    }

    pub fn location(&self, ip: &str) -> Option<&Location> {
        self.ip_locations.get(ip)
    }

    /// Reads persisted state, or `Ok(None)` when the file does not exist.
    pub fn load(path: &Path) -> Result<Option<Db>, StoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.display().to_string(),
            message,
        };
        // The format first: a newer version's file may not have our fields.
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        match value.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(FORMAT) => {}
            Some(f) if f > u64::from(FORMAT) => {
                return Err(StoreError::Newer {
                    path: path.display().to_string(),
                    found: f,
                    supported: FORMAT,
                });
            }
            Some(f) => return Err(corrupt(format!("unknown format version {f}"))),
            None => return Err(corrupt("no format version".to_owned())),
        }
        let db: Db = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        Ok(Some(db))
    }

    /// Writes state atomically (temp file in the same dir, then rename).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let err = |source| StoreError::Write {
            path: path.display().to_string(),
            source,
        };
        let tmp: PathBuf = path.with_extension("json.tmp");
        let text = serde_json::to_vec(self).map_err(|e| err(std::io::Error::other(e)))?;
        write_private(&tmp, &text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)?;
        Ok(())
    }
}

/// Writes a file readable by the owner only (it holds the signing key).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

pub struct NewUser {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub email: String,
    pub password: Option<String>,
    pub avatar_color: Option<String>,
    pub mfa: bool,
    pub now: i64,
}

pub struct NewSession<'a> {
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub now: i64,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub actor: Option<Value>,
    pub org_id: Option<String>,
    pub lifetimes: &'a Lifetimes,
    /// When the second factor was verified (sign-ins that asked for it).
    pub second_factor_at: Option<i64>,
    /// Session tasks still to do: the session starts `pending`.
    pub tasks: Vec<String>,
}

//! Shared server state: the instance's `Db`, keys, clock and settings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::ids::random_base62;
use crate::keys::Keys;
use crate::model::{CachedToken, Session};
use crate::store::{Db, Lifetimes};

pub(crate) type AppState = Arc<Inner>;

/// Settings that do not change while the server runs (but rate limits can
/// be switched off by a test control).
pub(crate) struct Settings {
    pub token_lifetime_secs: i64,
    pub rate_limits: AtomicBool,
    pub reverification_minutes: Option<i64>,
    pub reverification_level: crate::ReverificationLevel,
    pub session_tasks: Vec<crate::SessionTaskRule>,
    pub client_trust: bool,
    pub redirect_allowlist: Vec<String>,
    pub allow_loopback_redirects: bool,
    pub native_api_enabled: bool,
    pub lifetimes: Lifetimes,
    /// The `Host` values answered (`127.0.0.1:<port>`, `localhost:<port>`)
    /// when bound to loopback; `None` (any) otherwise.
    pub own_hosts: Option<Vec<String>>,
}

pub(crate) struct Inner {
    db: Mutex<Db>,
    pub keys: Keys,
    pub instance_id: String,
    pub secret_key: String,
    pub clock: Clock,
    pub settings: Settings,
    /// `http://127.0.0.1:<port>`: the issuer and the base of every URL.
    pub base_url: String,
    pub state_path: Option<PathBuf>,
    rate: Mutex<HashMap<(String, &'static str), Vec<i64>>>,
    #[cfg(feature = "test-controls")]
    pub controls: crate::controls::Controls,
}

/// Clerk's FAPI rate limits (docs "Rate limits"): (bucket, requests, window).
pub(crate) const LIMIT_CREATE_SIGN_IN: (&str, usize, i64) = ("create_sign_in", 5, 10_000);
pub(crate) const LIMIT_CREATE_SIGN_UP: (&str, usize, i64) = ("create_sign_up", 5, 10_000);
pub(crate) const LIMIT_ATTEMPT_FACTOR: (&str, usize, i64) = ("attempt_factor", 3, 10_000);
pub(crate) const LIMIT_SIGN_UP_VERIFY: (&str, usize, i64) = ("sign_up_verification", 3, 10_000);

impl Inner {
    pub fn new(
        db: Db,
        keys: Keys,
        settings: Settings,
        base_url: String,
        state_path: Option<PathBuf>,
    ) -> Self {
        Self {
            instance_id: db.instance_id.clone(),
            secret_key: db.secret_key.clone(),
            db: Mutex::new(db),
            keys,
            clock: Clock::default(),
            settings,
            base_url,
            state_path,
            rate: Mutex::new(HashMap::new()),
            #[cfg(feature = "test-controls")]
            controls: crate::controls::Controls::default(),
        }
    }

    /// Locks the instance state, first applying session expiry.
    pub fn db(&self) -> MutexGuard<'_, Db> {
        // A panic while holding the lock leaves the data usable (every
        // transition is a few field writes), so recover from poisoning.
        let mut g = self.db.lock().unwrap_or_else(|p| p.into_inner());
        g.apply_expiry(self.clock.now_ms());
        g
    }

    /// Persists the state when a data dir is configured.
    pub fn persist(&self, db: &Db) {
        if let Some(path) = &self.state_path
            && let Err(e) = db.save(path)
        {
            tracing::error!(error = %e, "could not persist emulator state");
        }
    }

    pub fn rate_limits_on(&self) -> bool {
        self.settings.rate_limits.load(Ordering::Relaxed)
    }

    #[cfg_attr(not(feature = "test-controls"), allow(dead_code))]
    pub fn set_rate_limits(&self, on: bool) {
        self.settings.rate_limits.store(on, Ordering::Relaxed)
    }

    /// Sliding-window rate limit per (IP, bucket). Returns the seconds to
    /// wait when the limit is hit.
    pub fn check_rate(&self, ip: &str, limit: (&'static str, usize, i64)) -> Result<(), u64> {
        if !self.rate_limits_on() {
            return Ok(());
        }
        let (bucket, max, window) = limit;
        let now = self.clock.now_ms();
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let hits = rate.entry((ip.to_owned(), bucket)).or_default();
        hits.retain(|t| now - *t < window && *t <= now);
        if hits.len() >= max {
            let oldest = hits.iter().copied().min().unwrap_or(now);
            let wait_ms = (oldest + window - now).max(1);
            return Err(((wait_ms + 999) / 1000) as u64);
        }
        hits.push(now);
        Ok(())
    }

    /// Claims of a v2 session token for `session`, with the organization
    /// `org` active (None = personal account).
    pub fn session_claims(
        &self,
        db: &Db,
        s: &Session,
        org: Option<&str>,
        azp: Option<&str>,
    ) -> (Value, i64, i64) {
        let now = self.clock.now_secs();
        let exp = now + self.settings.token_lifetime_secs;
        let mins = |at: i64| ((self.clock.now_ms() - at) / 60_000).max(0);
        let fva = json!([
            mins(s.first_factor_at),
            s.second_factor_at.map(mins).unwrap_or(-1)
        ]);
        let mut c = Map::new();
        if let Some(azp) = azp {
            c.insert("azp".into(), json!(azp));
        }
        c.insert("exp".into(), json!(exp));
        c.insert("fva".into(), fva);
        c.insert("iat".into(), json!(now));
        c.insert("iss".into(), json!(self.base_url));
        c.insert("jti".into(), json!(random_base62(20)));
        c.insert("nbf".into(), json!(now - 10));
        c.insert("sid".into(), json!(s.id));
        c.insert("sts".into(), json!(s.status.as_str()));
        c.insert("sub".into(), json!(s.user_id));
        c.insert("v".into(), json!(2));
        if let Some(act) = &s.actor {
            let mut act = act.clone();
            if let Some(o) = act.as_object_mut() {
                o.entry("iss").or_insert(json!(self.base_url));
                o.remove("type");
            }
            c.insert("act".into(), act);
        }
        if let Some(org_id) = org
            && let Some((o, fea)) = org_claim(db, &s.user_id, org_id)
        {
            c.insert("o".into(), o);
            if !fea.is_empty() {
                c.insert("fea".into(), json!(fea));
            }
        }
        (Value::Object(c), now, exp)
    }

    /// Fills the token cache of `session_id` if it is signed in and its
    /// cached token has less than half its life left.
    pub fn ensure_cached_token(&self, db: &mut Db, session_id: &str) {
        let now = self.clock.now_secs();
        let Some(s) = db.sessions.get(session_id) else {
            return;
        };
        if !s.status.is_signed_in() {
            return;
        }
        if let Some(t) = &s.token_cache
            && (t.exp - now) * 2 >= t.exp - t.iat
        {
            return;
        }
        let org = s.last_active_org_id.clone();
        let (claims, iat, exp) = self.session_claims(db, s, org.as_deref(), None);
        if let Some(jwt) = self.keys.sign(&claims)
            && let Some(s) = db.sessions.get_mut(session_id)
        {
            s.token_cache = Some(CachedToken { jwt, iat, exp });
        }
    }

    /// The session tasks a new session of `user_id` is held for: the
    /// configured ones that match the user, less those the user has done.
    pub fn tasks_for(&self, db: &Db, user_id: &str) -> Vec<String> {
        let Some(user) = db.users.get(user_id) else {
            return Vec::new();
        };
        let mut tasks = Vec::new();
        for rule in &self.settings.session_tasks {
            let key = rule.task.key();
            let applies = rule
                .email
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case(&user.email));
            if applies
                && !user.tasks_done.iter().any(|d| d == key)
                && !tasks.iter().any(|t| t == key)
            {
                tasks.push(key.to_owned());
            }
        }
        tasks
    }

    pub fn issuer(&self) -> &str {
        &self.base_url
    }
}

/// The compact `o` claim and the `fea` list for a membership.
///
/// Permissions `org:<feature>:<action>` become `fea: "o:<feature>,…"`,
/// `per: "<action>,…"` and one bitmask per feature in `fpm` (bit i set when
/// the feature has action `per[i]`). System permissions (`org:sys_*`) are
/// not listed, as in Clerk's v2 tokens.
fn org_claim(db: &Db, user_id: &str, org_id: &str) -> Option<(Value, String)> {
    let m = db.membership(user_id, org_id)?;
    let org = db.orgs.get(&m.org_id)?;
    let perms: Vec<(String, String)> = db
        .role(&m.role)
        .map(|r| {
            r.permissions
                .iter()
                .filter_map(|p| {
                    let mut it = p.splitn(3, ':');
                    let (_, feat, act) = (it.next()?, it.next()?, it.next()?);
                    (!feat.starts_with("sys_")).then(|| (feat.to_owned(), act.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut features: Vec<String> = Vec::new();
    let mut actions: Vec<String> = Vec::new();
    for (f, a) in &perms {
        if !features.contains(f) {
            features.push(f.clone());
        }
        if !actions.contains(a) {
            actions.push(a.clone());
        }
    }
    let fpm: Vec<String> = features
        .iter()
        .map(|f| {
            let mask = actions.iter().enumerate().fold(0u32, |acc, (i, a)| {
                if perms.iter().any(|(pf, pa)| pf == f && pa == a) {
                    acc | (1 << i)
                } else {
                    acc
                }
            });
            mask.to_string()
        })
        .collect();
    let role = m.role.strip_prefix("org:").unwrap_or(&m.role);
    let o = json!({
        "id": org.id,
        "slg": org.slug,
        "rol": role,
        "per": actions.join(","),
        "fpm": fpm.join(","),
    });
    let fea = features
        .iter()
        .map(|f| format!("o:{f}"))
        .collect::<Vec<_>>()
        .join(",");
    Some((o, fea))
}

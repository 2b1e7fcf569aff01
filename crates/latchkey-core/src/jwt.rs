//! Strict verification of Clerk session tokens.
//!
//! RS256 only; keys only from the instance's own JWKS (RSA ≥ 2048 bits, at
//! most 32 keys, no duplicate `kid`); `jku`/`x5u`/`jwk`/`x5c` headers are
//! never acted on (but must have their registered types), and a `crit`
//! header is refused (RFC 7515 §4.1.11: Latchkey understands no extension); `exp`, `nbf`, `iss`, `sub` required and `iss` pinned to the
//! instance; time checks against an injectable clock (so the engine can
//! correct for local clock skew): expired at `exp` (no leeway: an expired
//! token is expired, and Latchkey refreshes 17 s early), `nbf` and `iat` at
//! most 5 s in the future (Clerk already back-dates `nbf` by 10 s); `aud` must be absent; `azp`, when present, must be
//! an authorized party (native requests send no `Origin`, so Clerk omits
//! `azp` on Latchkey's own tokens); `sts: pending` is not signed in. An
//! unknown `kid` triggers at most one JWKS refetch per minute.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::types::{SessionId, UserId};

/// Largest token accepted, checked before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `nbf` and `iat` (Clerk's backend SDK: 5 s).
pub const LEEWAY_SECS: u64 = 5;
/// Clock skew tolerated on `exp`.
pub const EXP_LEEWAY_SECS: u64 = 0;
/// At most one JWKS refetch for unknown `kid`s per this interval.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
const MAX_KEYS: usize = 32;
const MIN_RSA_BITS: usize = 2048;
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a token was rejected: precise, and free of the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Longer than 8 KiB.
    #[error("the token is larger than 8 KiB")]
    TooLarge,
    /// Not three base64url parts, or a header that does not parse.
    #[error("the token is not a compact JWS (three base64url parts)")]
    Malformed,
    /// Any `alg` but RS256 (`none`, HS256, RS512, …).
    #[error("algorithm {0:?} is not accepted (only RS256)")]
    Algorithm(String),
    /// A `typ` other than `JWT`.
    #[error("the token's typ header is not JWT")]
    Type,
    /// A `crit` header: extensions that must be understood, and Latchkey
    /// understands none (RFC 7515 §4.1.11).
    #[error("the token requires header extensions Latchkey does not understand (crit)")]
    Critical,
    /// A standard header parameter of the wrong type (RFC 7515 §4.1).
    #[error("the token's {0} header has the wrong type")]
    BadHeader(&'static str),
    /// No `kid`, or one longer than 128 characters.
    #[error("the token has no usable kid header")]
    MissingKid,
    /// No key with that `kid`, even after a (rate-limited) JWKS fetch.
    #[error("no key with kid {0:?} in the instance's JWKS")]
    UnknownKey(String),
    /// The JWKS could not be fetched (fail closed, never a sign-out).
    #[error("the instance's JWKS could not be fetched: {0}")]
    JwksUnavailable(String),
    /// The JWKS breaks the key rules (size, type, duplicates).
    #[error("the instance's JWKS is unacceptable: {0}")]
    BadJwks(String),
    /// The RS256 signature does not verify.
    #[error("the signature does not verify")]
    Signature,
    /// At or past `exp` (no leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` more than 5 s ahead.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` more than 5 s ahead.
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    /// `iss` is not the instance.
    #[error("the token's issuer is not this instance")]
    Issuer,
    /// A required claim (`exp`, `nbf`, `iss`, `sub`) is missing.
    #[error("the token lacks the required claim {0}")]
    MissingClaim(String),
    /// A claim of the wrong type or an impossible value.
    #[error("a claim has the wrong type or value: {0}")]
    ClaimType(String),
    /// An `aud` claim (Clerk session tokens have none).
    #[error("the token carries an audience, which Clerk session tokens do not")]
    Audience,
    /// An `azp` outside the allowed parties.
    #[error("authorized party {0:?} is not allowed")]
    UnauthorizedParty(String),
    /// `sts: pending`: the session has unfinished tasks.
    #[error("the session has pending tasks (sts: pending): finish signing in first")]
    Pending,
    /// A session token for another session.
    #[error("the token belongs to session {got}, not {expected}")]
    WrongSession {
        /// The session the token was requested for.
        expected: String,
        /// The `sid` it carries.
        got: String,
    },
    /// A session token for another user.
    #[error("the token belongs to user {got}, not {expected}")]
    WrongUser {
        /// The user of that session.
        expected: String,
        /// The `sub` it carries.
        got: String,
    },
    /// Issued longer ago than `max_age` allows.
    #[error("the token is {age}s old, more than the allowed {max}s (iat)")]
    TooOld {
        /// Seconds since `iat`.
        age: u64,
        /// The allowed age.
        max: u64,
    },
    /// The first factor is older than `max_factor_age` allows.
    #[error("the first factor was verified {age} min ago, more than the allowed {max} min (fva)")]
    FactorTooOld {
        /// Minutes since the first factor (`fva[0]`).
        age: i64,
        /// The allowed age.
        max: i64,
    },
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::new(ErrorKind::InvalidToken, r.to_string())
    }
}

/// The active organization, compact (`o` claim, v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgClaim {
    /// The organization id.
    pub id: String,
    /// Its slug.
    #[serde(default)]
    pub slg: Option<String>,
    /// The role, without `org:` (`admin`).
    #[serde(default)]
    pub rol: Option<String>,
    /// Actions, comma-separated (`read,manage`).
    #[serde(default)]
    pub per: Option<String>,
    /// Per feature (in `fea` order), a bitmask over `per`, comma-separated.
    #[serde(default)]
    pub fpm: Option<String>,
}

impl OrgClaim {
    /// The role key as Clerk writes it elsewhere (`org:admin`).
    pub fn role_key(&self) -> Option<String> {
        self.rol.as_deref().map(|r| {
            if r.starts_with("org:") {
                r.to_owned()
            } else {
                format!("org:{r}")
            }
        })
    }

    /// True when the role is the organization's admin role.
    pub fn is_admin(&self) -> bool {
        self.role_key().as_deref() == Some("org:admin")
    }

    /// The permissions encoded in `per`/`fpm` with the token's `fea` list:
    /// feature `i` of `fea` (the `o:` ones) has action `per[j]` when bit `j`
    /// of `fpm[i]` is set, giving `org:<feature>:<action>`. Malformed parts
    /// are skipped, never a panic. System permissions (`org:sys_*`) are not
    /// in v2 tokens, so they are not listed here.
    pub fn permissions(&self, fea: Option<&str>) -> Vec<String> {
        let split = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let actions = split(self.per.as_deref());
        let masks = split(self.fpm.as_deref());
        let features: Vec<String> = split(fea)
            .into_iter()
            .filter_map(|f| f.strip_prefix("o:").map(str::to_owned))
            .collect();
        let mut out = Vec::new();
        for (feature, mask) in features.iter().zip(masks.iter()) {
            let Ok(mask) = mask.parse::<u64>() else {
                continue;
            };
            for (j, action) in actions.iter().enumerate().take(64) {
                if mask & (1u64 << j) != 0 {
                    out.push(format!("org:{feature}:{action}"));
                }
            }
        }
        out
    }
}

/// Verified claims of a Clerk token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The instance's Frontend API URL.
    pub iss: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before (Clerk: `iat − 10`).
    pub nbf: i64,
    /// Issued at.
    #[serde(default)]
    pub iat: Option<i64>,
    /// The session id (session tokens only).
    #[serde(default)]
    pub sid: Option<String>,
    /// The requesting origin (absent for native requests).
    #[serde(default)]
    pub azp: Option<String>,
    /// The token's id.
    #[serde(default)]
    pub jti: Option<String>,
    /// Session status: `active` or `pending`.
    #[serde(default)]
    pub sts: Option<String>,
    /// Claims version (2).
    #[serde(default)]
    pub v: Option<i64>,
    /// Minutes since the first and second factor (`-1`: never).
    #[serde(default)]
    pub fva: Option<[i64; 2]>,
    /// The active organization.
    #[serde(default)]
    pub o: Option<OrgClaim>,
    /// Features, comma-separated (`o:reports,…`).
    #[serde(default)]
    pub fea: Option<String>,
    /// The actor when impersonated (`{sub, iss?, sid?}`).
    #[serde(default)]
    pub act: Option<Value>,
    /// Any other claims (templates, custom session claims).
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// Extra checks for [`Verifier::verify`].
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Reject tokens whose `iat` is older than this.
    pub max_age: Option<Duration>,
    /// Reject tokens whose first factor (`fva[0]`) is older than this.
    pub max_factor_age: Option<Duration>,
    /// Allowed `azp` values; a token with an `azp` outside it is rejected
    /// (with an empty list, any `azp` is rejected).
    pub authorized_parties: Vec<String>,
    /// For tokens the engine requested: the session and user they must be
    /// for.
    pub expect_session: Option<(SessionId, UserId)>,
    /// JWT template tokens may carry an `aud` of the template's choosing
    /// (Supabase's is `authenticated`); session tokens never do.
    pub allow_audience: bool,
}

/// RFC 7515 header rules beyond `alg`/`typ`/`kid`: the header is an
/// object; `crit` is refused (it names extensions that must be understood,
/// and none are); the other registered parameters, which are never acted on
/// (keys come only from the instance's JWKS), must still have their
/// registered types, or the token is malformed.
fn check_header(header: &Value) -> std::result::Result<(), Rejection> {
    let Some(h) = header.as_object() else {
        return Err(Rejection::Malformed);
    };
    if h.contains_key("crit") {
        return Err(Rejection::Critical);
    }
    fn certs(v: &Value) -> bool {
        v.as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
    }
    type Rule = (&'static str, fn(&Value) -> bool);
    let rules: [Rule; 7] = [
        ("jku", Value::is_string),
        ("x5u", Value::is_string),
        ("x5t", Value::is_string),
        ("x5t#S256", Value::is_string),
        ("cty", Value::is_string),
        ("jwk", Value::is_object),
        ("x5c", certs),
    ];
    for (name, ok) in rules {
        if h.get(name).is_some_and(|v| !ok(v)) {
            return Err(Rejection::BadHeader(name));
        }
    }
    Ok(())
}

/// The `jsonwebtoken` settings every verification uses: algorithm, issuer,
/// required claims and audience. Times are checked by [`Verifier`] itself
/// against its clock (the crate reads the system clock, which the engine
/// must be able to correct). Pinned by a test so a refactor cannot loosen
/// them (the crate's defaults are a 60 s leeway, no `nbf` check and no
/// issuer check).
pub fn validation(issuer: &str) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.algorithms = vec![Algorithm::RS256];
    v.leeway = 0;
    v.validate_exp = false;
    v.validate_nbf = false;
    // No audience is configured, so a token that carries `aud` is rejected.
    v.validate_aud = true;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
    v
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    last_fetch: Option<Instant>,
    fetches: u64,
}

/// Verifies tokens of one instance against its JWKS.
pub struct Verifier {
    instance: Instance,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
    /// Whose monotonic time spaces JWKS refetches (the engine's clock).
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("instance", &self.instance.id())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Verifier {
    /// A verifier reusing an HTTP client (building one loads the system
    /// certificate store, which costs milliseconds per process).
    pub fn with_http(instance: Instance, http: reqwest::Client) -> Self {
        Self {
            instance,
            http,
            cache: Mutex::new(KeyCache::default()),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same, spacing JWKS refetches on `clock` (the engine's, so a
    /// key rotation is picked up on simulated time as on real time).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A verifier trusting only `instance`'s issuer and JWKS.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] if the HTTP client cannot be built.
    pub fn new(instance: Instance) -> Result<Self> {
        let http = crate::fapi::http_client(
            &instance,
            Duration::from_secs(20),
            crate::proxy::ProxyEnv::from_process(),
        )?;
        Ok(Self {
            instance,
            http,
            cache: Mutex::new(KeyCache::default()),
            clock: Arc::new(SystemClock),
        })
    }

    /// The instance whose tokens it accepts.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// How many times the JWKS was fetched (for tests and diagnostics).
    pub async fn jwks_fetches(&self) -> u64 {
        self.cache.lock().await.fetches
    }

    /// Verifies `token` now; the claims, or the precise reason it was
    /// refused.
    pub async fn verify(
        &self,
        token: &str,
        opts: &VerifyOptions,
    ) -> std::result::Result<Claims, Rejection> {
        self.verify_at(token, opts, now_secs()).await
    }

    /// Verifies `token` as of `now` (Unix seconds; the engine passes a
    /// skew-corrected time).
    pub async fn verify_at(
        &self,
        token: &str,
        opts: &VerifyOptions,
        now: i64,
    ) -> std::result::Result<Claims, Rejection> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLarge);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let b64url = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if parts.len() != 3 || !parts.iter().all(|p| b64url(p)) {
            return Err(Rejection::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(parts[0])
            .map_err(|_| Rejection::Malformed)?;
        let header: Value =
            serde_json::from_slice(&header_bytes).map_err(|_| Rejection::Malformed)?;
        check_header(&header)?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "RS256" {
            return Err(Rejection::Algorithm(alg.chars().take(16).collect()));
        }
        if let Some(typ) = header.get("typ")
            && typ.as_str() != Some("JWT")
        {
            return Err(Rejection::Type);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty() && k.len() <= 128)
            .ok_or(Rejection::MissingKid)?;
        let key = self.key(kid).await?;
        let mut rules = validation(self.instance.issuer());
        if opts.allow_audience {
            rules.validate_aud = false;
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &rules).map_err(map_jwt_error)?;
        let c = data.claims;
        if now >= c.exp + EXP_LEEWAY_SECS as i64 {
            return Err(Rejection::Expired);
        }
        if c.nbf > now + LEEWAY_SECS as i64 {
            return Err(Rejection::NotYetValid);
        }
        if let Some(iat) = c.iat
            && iat > now + LEEWAY_SECS as i64
        {
            return Err(Rejection::IssuedInFuture);
        }
        if let Some(azp) = &c.azp
            && !opts.authorized_parties.iter().any(|p| p == azp)
        {
            return Err(Rejection::UnauthorizedParty(
                azp.chars().take(200).collect(),
            ));
        }
        if c.sts.as_deref() == Some("pending") {
            return Err(Rejection::Pending);
        }
        if let Some((sid, uid)) = &opts.expect_session {
            let got = c.sid.clone().unwrap_or_default();
            if got != sid.as_str() {
                return Err(Rejection::WrongSession {
                    expected: sid.to_string(),
                    got,
                });
            }
            if c.sub != uid.as_str() {
                return Err(Rejection::WrongUser {
                    expected: uid.to_string(),
                    got: c.sub.clone(),
                });
            }
        }
        if let Some(max) = opts.max_age {
            let iat = c.iat.ok_or_else(|| Rejection::MissingClaim("iat".into()))?;
            let age = (now - iat).max(0) as u64;
            if age > max.as_secs() {
                return Err(Rejection::TooOld {
                    age,
                    max: max.as_secs(),
                });
            }
        }
        if let Some(max) = opts.max_factor_age {
            let max_min = (max.as_secs() / 60) as i64;
            let fva = c.fva.ok_or_else(|| Rejection::MissingClaim("fva".into()))?;
            if fva[0] < 0 || fva[0] > max_min {
                return Err(Rejection::FactorTooOld {
                    age: fva[0],
                    max: max_min,
                });
            }
        }
        Ok(c)
    }

    async fn key(&self, kid: &str) -> std::result::Result<DecodingKey, Rejection> {
        let mut cache = self.cache.lock().await;
        if let Some(k) = cache.keys.get(kid) {
            return Ok(k.clone());
        }
        // Unknown kid: one refetch, at most once per interval (key rotation
        // works; a flood of forged kids does not hammer the JWKS).
        let now = self.clock.mono();
        let may_fetch = cache
            .last_fetch
            .is_none_or(|t| now.saturating_duration_since(t) >= JWKS_REFETCH_INTERVAL);
        if !may_fetch {
            return Err(Rejection::UnknownKey(kid.chars().take(64).collect()));
        }
        cache.last_fetch = Some(now);
        cache.fetches += 1;
        match self.fetch_jwks().await {
            Ok(keys) => cache.keys = keys,
            // Keep the keys we had; fail closed for this token.
            Err(e) => return Err(e),
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| Rejection::UnknownKey(kid.chars().take(64).collect()))
    }

    async fn fetch_jwks(&self) -> std::result::Result<HashMap<String, DecodingKey>, Rejection> {
        let unavailable = |m: &str| Rejection::JwksUnavailable(m.to_owned());
        let mut res = self
            .http
            .get(self.instance.jwks_url())
            .send()
            .await
            .map_err(|_| unavailable("network error"))?;
        if !res.status().is_success() {
            return Err(unavailable(&format!("status {}", res.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|_| unavailable("network error"))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(Rejection::BadJwks("larger than 256 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

/// Parses a JWKS document into RS256 verification keys.
pub fn parse_jwks(body: &[u8]) -> std::result::Result<HashMap<String, DecodingKey>, Rejection> {
    let bad = |m: &str| Rejection::BadJwks(m.to_owned());
    let doc: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no keys array"))?;
    if keys.len() > MAX_KEYS {
        return Err(bad("more than 32 keys"));
    }
    let mut out = HashMap::new();
    for k in keys {
        // Only RSA signing keys; an `oct` key would become an HMAC key.
        if k.get("kty").and_then(Value::as_str) != Some("RSA") {
            continue;
        }
        if let Some(alg) = k.get("alg").and_then(Value::as_str)
            && alg != "RS256"
        {
            continue;
        }
        if let Some(u) = k.get("use").and_then(Value::as_str)
            && u != "sig"
        {
            continue;
        }
        let kid = k
            .get("kid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or_else(|| bad("a key without a kid"))?;
        let n = k
            .get("n")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("an RSA key without n"))?;
        let e = k
            .get("e")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("an RSA key without e"))?;
        let n_bytes = URL_SAFE_NO_PAD
            .decode(n)
            .map_err(|_| bad("n is not base64url"))?;
        let first = n_bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(n_bytes.len());
        let bits = (n_bytes.len() - first) * 8
            - n_bytes
                .get(first)
                .map(|b| b.leading_zeros() as usize)
                .unwrap_or(0);
        if bits < MIN_RSA_BITS {
            return Err(bad("an RSA key shorter than 2048 bits"));
        }
        let key = DecodingKey::from_rsa_components(n, e).map_err(|_| bad("an invalid RSA key"))?;
        if out.insert(kid.to_owned(), key).is_some() {
            return Err(bad("duplicate kid"));
        }
    }
    Ok(out)
}

fn map_jwt_error(e: jsonwebtoken::errors::Error) -> Rejection {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => Rejection::Expired,
        K::ImmatureSignature => Rejection::NotYetValid,
        K::InvalidIssuer => Rejection::Issuer,
        K::InvalidAudience => Rejection::Audience,
        K::MissingRequiredClaim(c) => Rejection::MissingClaim(c.clone()),
        K::InvalidSignature => Rejection::Signature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName => {
            Rejection::Algorithm("RS256 expected".into())
        }
        K::Json(e) => {
            let msg = e.to_string();
            let msg = msg.split(" at line").next().unwrap_or("invalid");
            match msg
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                Some(field) => Rejection::MissingClaim(field.to_owned()),
                None => Rejection::ClaimType(msg.to_owned()),
            }
        }
        K::Base64(_) | K::Utf8(_) | K::InvalidToken => Rejection::Malformed,
        _ => Rejection::Signature,
    }
}

/// Reads a JWT's claims without verifying it: for showing the claims of a
/// token the engine already verified. Never use the result for a decision.
pub fn decode_unverified(token: &str) -> Option<Value> {
    let p = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_permissions_decode_from_per_fpm_and_fea() {
        let o = OrgClaim {
            id: "org_1".into(),
            slg: None,
            rol: Some("admin".into()),
            per: Some("read,manage".into()),
            fpm: Some("3,1".into()),
        };
        assert!(o.is_admin());
        assert_eq!(
            o.permissions(Some("o:reports,o:billing,u:personal")),
            ["org:reports:read", "org:reports:manage", "org:billing:read"]
        );
        // Malformed masks and missing parts give nothing, never a panic.
        let bad = OrgClaim {
            fpm: Some("x,99999999999999999999".into()),
            rol: Some("member".into()),
            ..o
        };
        assert!(!bad.is_admin());
        assert!(bad.permissions(Some("o:reports,o:billing")).is_empty());
        assert!(bad.permissions(None).is_empty());
    }

    /// Snapshot of the validation settings: changing any of them must be a
    /// deliberate edit of this test.
    #[test]
    fn validation_settings_are_pinned() {
        let v = validation("https://clerk.example.com");
        let mut required: Vec<_> = v.required_spec_claims.iter().cloned().collect();
        required.sort();
        let mut iss: Vec<_> = v.iss.clone().unwrap_or_default().into_iter().collect();
        iss.sort();
        let snapshot = format!(
            "algorithms={:?} crate_leeway={} crate_exp={} crate_nbf={} aud={} aud_set={:?} iss={:?} required={:?} own_exp_leeway={} own_nbf_iat_leeway={} max_bytes={} refetch={:?}",
            v.algorithms,
            v.leeway,
            v.validate_exp,
            v.validate_nbf,
            v.validate_aud,
            v.aud,
            iss,
            required,
            EXP_LEEWAY_SECS,
            LEEWAY_SECS,
            MAX_TOKEN_BYTES,
            JWKS_REFETCH_INTERVAL
        );
        assert_eq!(
            snapshot,
            "algorithms=[RS256] crate_leeway=0 crate_exp=false crate_nbf=false aud=true aud_set=None iss=[\"https://clerk.example.com\"] required=[\"exp\", \"iss\", \"nbf\", \"sub\"] own_exp_leeway=0 own_nbf_iat_leeway=5 max_bytes=8192 refetch=60s"
        );
    }

    #[test]
    fn jwks_rules() {
        let n2048 = URL_SAFE_NO_PAD.encode([0xC3u8; 256]);
        let n1024 = URL_SAFE_NO_PAD.encode([0xC3u8; 128]);
        let ok = format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"a","n":"{n2048}","e":"AQAB","alg":"RS256","use":"sig"}}]}}"#
        );
        assert_eq!(parse_jwks(ok.as_bytes()).unwrap().len(), 1);
        let oct = r#"{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0"}]}"#;
        assert!(
            parse_jwks(oct.as_bytes()).unwrap().is_empty(),
            "oct keys are never used"
        );
        let short = format!(r#"{{"keys":[{{"kty":"RSA","kid":"a","n":"{n1024}","e":"AQAB"}}]}}"#);
        assert!(matches!(
            parse_jwks(short.as_bytes()),
            Err(Rejection::BadJwks(_))
        ));
        let dup = format!(
            r#"{{"keys":[{{"kty":"RSA","kid":"a","n":"{n2048}","e":"AQAB"}},{{"kty":"RSA","kid":"a","n":"{n2048}","e":"AQAB"}}]}}"#
        );
        assert!(matches!(
            parse_jwks(dup.as_bytes()),
            Err(Rejection::BadJwks(_))
        ));
        let many = format!(r#"{{"keys":[{}]}}"#, vec![r#"{"kty":"oct"}"#; 33].join(","));
        assert!(matches!(
            parse_jwks(many.as_bytes()),
            Err(Rejection::BadJwks(_))
        ));
        assert!(parse_jwks(b"<html>").is_err());
    }
}

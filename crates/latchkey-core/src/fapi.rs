//! The typed Frontend API client (native mode).
//!
//! Every call: `_is_native=1` and `__clerk_api_version` in the query, the
//! Latchkey User-Agent, the client credential in `Authorization`, no
//! `Origin`, form bodies. A credential in an `Authorization` response header
//! replaces the stored one (empty = clear) — but only if the stored one is
//! still the one the request was sent with, so a late answer never
//! overwrites a newer credential. Redirects are not followed, bodies are
//! capped at 1 MiB, timeouts are 10 s to connect and 20 s in all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::models::*;
use crate::secret::{ClientCredential, PkceVerifier, RotatingNonce, SessionToken, SignInTicket};
use crate::types::{OrganizationId, SessionId, SignInId};

/// The Frontend API version this client speaks (docs/contracts.md).
pub const API_VERSION: &str = "2026-05-12";
/// Largest response body read.
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest session JWT accepted from the token endpoint.
pub const MAX_JWT: usize = 8 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(20);
/// `Retry-After` is honoured within these bounds (docs/contracts.md).
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(600);

/// `Latchkey/<version> (<OS>; <arch>)` (docs/contracts.md).
pub fn user_agent() -> String {
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    };
    format!(
        "Latchkey/{} ({os}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

/// The stored credential and a version that changes on every change.
#[derive(Debug, Default)]
struct CredentialSlot {
    value: Option<ClientCredential>,
    version: u64,
}

/// A native-mode Frontend API client for one instance and one Clerk client.
#[derive(Clone)]
pub struct Fapi {
    http: reqwest::Client,
    instance: Instance,
    slot: Arc<Mutex<CredentialSlot>>,
    changes: Arc<watch::Sender<u64>>,
}

impl std::fmt::Debug for Fapi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fapi")
            .field("instance", &self.instance.id())
            .finish_non_exhaustive()
    }
}

fn transport_error(e: reqwest::Error) -> Error {
    // reqwest's Display can include the URL; never print it (query strings
    // may carry nonces or verifiers). The error is kept as the source for
    // logs only without its URL.
    let (kind, message) = transport_kind(&e);
    Error::new(kind, message).with_source(e.without_url())
}

fn transport_kind(e: &reqwest::Error) -> (ErrorKind, &'static str) {
    if e.is_timeout() {
        (
            ErrorKind::Timeout,
            "the Clerk Frontend API did not answer in time",
        )
    } else if e.is_redirect() {
        (
            ErrorKind::Protocol,
            "the Clerk Frontend API answered with a redirect, which is not followed",
        )
    } else if certificate_refused(e) {
        (
            ErrorKind::Network,
            "could not reach the Clerk Frontend API: its TLS certificate is not trusted \
             by this system (a proxy that intercepts HTTPS needs its certificate \
             installed)",
        )
    } else {
        (ErrorKind::Network, "could not reach the Clerk Frontend API")
    }
}

/// Whether a transport error is rustls refusing the server's certificate.
/// The rustls error sits in the source chain inside (nested) `io::Error`s,
/// whose `source()` skips the wrapped error itself, so those are opened.
fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    // Bounded: a source chain is a handful of links.
    for _ in 0..16 {
        let Some(err) = cur else { return false };
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_)
            );
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _).or(err.source()),
            None => err.source(),
        };
    }
    false
}

/// Parses `Retry-After` (delta-seconds or HTTP-date), clamped; garbage or
/// negative values give `None` (callers fall back to backoff).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(at) = httpdate::parse_http_date(v) {
        at.duration_since(now).unwrap_or(Duration::ZERO)
    } else {
        return None;
    };
    Some(d.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX))
}

/// Which kind of call this is, for classifying 401/404 answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Addressed to one session of this client (tokens, touch, end, …) or
    /// acting as a session (`/me`): "not found" / "signed out" mean the
    /// session is gone.
    Session,
    Other,
}

struct Answer {
    body: Value,
}

impl Fapi {
    /// A client for `instance`, optionally with a stored credential.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] if the HTTP client cannot be built.
    pub fn new(instance: Instance, credential: Option<ClientCredential>) -> Result<Self> {
        Self::with_timeout(instance, credential, TOTAL_TIMEOUT)
    }

    /// Like [`Fapi::new`] with another total timeout per request (tests use
    /// short ones against a trickling server).
    pub fn with_timeout(
        instance: Instance,
        credential: Option<ClientCredential>,
        total: Duration,
    ) -> Result<Self> {
        let http = http_client(&instance, total)?;
        let (tx, _) = watch::channel(0);
        Ok(Self {
            http,
            instance,
            slot: Arc::new(Mutex::new(CredentialSlot {
                value: credential,
                version: 0,
            })),
            changes: Arc::new(tx),
        })
    }

    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The HTTP client (https-only for Clerk instances, no redirects,
    /// timeouts), to share with a [`crate::Verifier`].
    pub fn http_client(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// The current client credential (to persist it).
    pub fn credential(&self) -> Option<ClientCredential> {
        self.lock().value.clone()
    }

    /// Replaces the credential (e.g. after reading a newer one from the
    /// keychain).
    pub fn set_credential(&self, value: Option<ClientCredential>) {
        let version = {
            let mut s = self.lock();
            s.value = value;
            s.version += 1;
            s.version
        };
        self.changes.send_replace(version);
    }

    /// Notified (with a version number) whenever the credential changes.
    pub fn credential_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CredentialSlot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        scope: Scope,
    ) -> Result<Answer> {
        let (sent_with, version) = {
            let s = self.lock();
            (s.value.clone(), s.version)
        };
        let mut url = self.instance.endpoint(path);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("_is_native", "1")
                .append_pair("__clerk_api_version", API_VERSION);
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        let mut req = self.http.request(method, url);
        if let Some(c) = &sent_with {
            req = req.header(AUTHORIZATION, c.expose());
        }
        if let Some(f) = form {
            req = req.form(f);
        }
        let res = req.send().await.map_err(transport_error)?;
        let status = res.status();
        let headers = res.headers().clone();
        self.adopt_credential(&headers, version);
        let body = read_capped(res).await?;
        classify(status, &headers, &body, scope)
    }

    /// Takes a rotated credential from the response, unless the credential
    /// changed since this request was sent (then the answer is stale).
    fn adopt_credential(&self, headers: &HeaderMap, sent_version: u64) {
        let Some(v) = headers.get(AUTHORIZATION) else {
            return;
        };
        let Ok(raw) = v.to_str() else { return };
        let raw = raw.trim();
        let raw = raw
            .strip_prefix("Bearer ")
            .unwrap_or(if raw.eq_ignore_ascii_case("bearer") {
                ""
            } else {
                raw
            })
            .trim();
        let version = {
            let mut s = self.lock();
            if s.version != sent_version {
                tracing::debug!("ignoring a credential from a stale response");
                return;
            }
            s.value = (!raw.is_empty()).then(|| ClientCredential::new(raw));
            s.version += 1;
            s.version
        };
        self.changes.send_replace(version);
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        scope: Scope,
    ) -> Result<T> {
        let a = self.send(method, path, query, form, scope).await?;
        decode(a.body)
    }

    /// `{response, client}` → (response, client).
    async fn envelope<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        scope: Scope,
    ) -> Result<(T, Option<Client>)> {
        let a = self.send(method, path, query, form, scope).await?;
        let Value::Object(mut m) = a.body else {
            return Err(protocol("expected a {response, client} object"));
        };
        if !m.contains_key("response") {
            return Err(protocol("the answer has no response field"));
        }
        let response = decode(m.remove("response").unwrap_or(Value::Null))?;
        let client = match m.remove("client") {
            None | Some(Value::Null) => None,
            Some(c) => Some(decode(c)?),
        };
        Ok((response, client))
    }

    // ------------------------------------------------------------ operations

    /// `GET /v1/environment`.
    pub async fn environment(&self) -> Result<Environment> {
        self.call(Method::GET, "/v1/environment", &[], None, Scope::Other)
            .await
    }

    /// `GET /v1/client`; `None` when there is no client for the credential.
    pub async fn get_client(&self) -> Result<Option<Client>> {
        let (c, _): (Option<Client>, _) = self
            .envelope(Method::GET, "/v1/client", &[], None, Scope::Other)
            .await?;
        Ok(c)
    }

    /// `POST /v1/client`: a new client (and credential).
    pub async fn create_client(&self) -> Result<Client> {
        let (c, _): (Client, _) = self
            .envelope(Method::POST, "/v1/client", &[], Some(&[]), Scope::Other)
            .await?;
        Ok(c)
    }

    /// `DELETE /v1/client`: ends every session and the client itself.
    pub async fn delete_client(&self) -> Result<()> {
        let _: (Value, Option<Client>) = self
            .envelope(Method::DELETE, "/v1/client", &[], None, Scope::Other)
            .await?;
        Ok(())
    }

    /// `DELETE /v1/client/sessions`: signs out every session on this client.
    pub async fn sign_out_all(&self) -> Result<Option<Client>> {
        let (c, _): (Option<Client>, Option<Client>) = self
            .envelope(
                Method::DELETE,
                "/v1/client/sessions",
                &[],
                None,
                Scope::Other,
            )
            .await?;
        Ok(c)
    }

    /// `POST /v1/client/hosted_auth`: the browser URL for hosted auth.
    pub async fn start_hosted_auth(
        &self,
        redirect_url: &str,
        code_challenge: &str,
        state: &str,
    ) -> Result<String> {
        #[derive(serde::Deserialize)]
        struct Hosted {
            url: String,
        }
        let form = [
            ("redirect_url", redirect_url),
            ("code_challenge", code_challenge),
            ("state", state),
        ];
        let (h, _): (Hosted, Option<Client>) = self
            .envelope(
                Method::POST,
                "/v1/client/hosted_auth",
                &[],
                Some(&form),
                Scope::Other,
            )
            .await?;
        Ok(h.url)
    }

    /// Hosted-auth redemption: `POST /v1/client` with `_method=GET`, the
    /// nonce and the PKCE verifier.
    pub async fn redeem_hosted_auth(
        &self,
        nonce: &RotatingNonce,
        verifier: &PkceVerifier,
    ) -> Result<Client> {
        let form = [
            ("_method", "GET"),
            ("rotating_token_nonce", nonce.expose()),
            ("code_verifier", verifier.expose()),
        ];
        let (c, _): (Option<Client>, _) = self
            .envelope(Method::POST, "/v1/client", &[], Some(&form), Scope::Other)
            .await?;
        c.ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthenticated,
                "the sign-in was redeemed but no client came back",
            )
        })
    }

    /// `POST /v1/client/sign_ins` with `strategy=ticket`.
    pub async fn sign_in_with_ticket(&self, ticket: &SignInTicket) -> Result<SignIn> {
        self.create_sign_in(&[("strategy", "ticket"), ("ticket", ticket.expose())])
            .await
    }

    /// `POST /v1/client/sign_ins` with `strategy=oauth_<provider>`.
    pub async fn sign_in_with_oauth(&self, strategy: &str, redirect_url: &str) -> Result<SignIn> {
        self.create_sign_in(&[("strategy", strategy), ("redirect_url", redirect_url)])
            .await
    }

    async fn create_sign_in(&self, form: &[(&str, &str)]) -> Result<SignIn> {
        let (s, _): (SignIn, Option<Client>) = self
            .envelope(
                Method::POST,
                "/v1/client/sign_ins",
                &[],
                Some(form),
                Scope::Other,
            )
            .await?;
        Ok(s)
    }

    /// `GET /v1/client/sign_ins/{id}` with the callback's nonce.
    pub async fn reload_sign_in(&self, id: &SignInId, nonce: &RotatingNonce) -> Result<SignIn> {
        let path = format!("/v1/client/sign_ins/{}", seg(id.as_str())?);
        let (s, _): (SignIn, Option<Client>) = self
            .envelope(
                Method::GET,
                &path,
                &[("rotating_token_nonce", nonce.expose())],
                None,
                Scope::Other,
            )
            .await?;
        Ok(s)
    }

    /// `POST /v1/client/sign_ups` with `transfer=true`.
    pub async fn transfer_to_sign_up(&self) -> Result<SignUp> {
        let (s, _): (SignUp, Option<Client>) = self
            .envelope(
                Method::POST,
                "/v1/client/sign_ups",
                &[],
                Some(&[("transfer", "true")]),
                Scope::Other,
            )
            .await?;
        Ok(s)
    }

    /// `GET /v1/client/sessions/{id}`.
    pub async fn get_session(&self, id: &SessionId) -> Result<Session> {
        let path = format!("/v1/client/sessions/{}", seg(id.as_str())?);
        Ok(self
            .envelope::<Session>(Method::GET, &path, &[], None, Scope::Session)
            .await?
            .0)
    }

    /// `POST /v1/client/sessions/{id}/touch`: makes it the active session,
    /// with `org` active (`None` = personal account).
    pub async fn touch(
        &self,
        id: &SessionId,
        org: Option<&OrganizationId>,
        intent: &str,
    ) -> Result<(Session, Option<Client>)> {
        let path = format!("/v1/client/sessions/{}/touch", seg(id.as_str())?);
        let form = [
            (
                "active_organization_id",
                org.map(|o| o.as_str()).unwrap_or(""),
            ),
            ("intent", intent),
        ];
        self.envelope(Method::POST, &path, &[], Some(&form), Scope::Session)
            .await
    }

    /// `POST /v1/client/sessions/{id}/tokens`. `org`: `None` = the session's
    /// active organization, `Some(None)` = personal account.
    pub async fn session_token(
        &self,
        id: &SessionId,
        org: Option<Option<&OrganizationId>>,
    ) -> Result<SessionToken> {
        let path = format!("/v1/client/sessions/{}/tokens", seg(id.as_str())?);
        let form: Vec<(&str, &str)> = match org {
            None => vec![],
            Some(o) => vec![("organization_id", o.map(|o| o.as_str()).unwrap_or(""))],
        };
        let t: TokenObject = self
            .call(Method::POST, &path, &[], Some(&form), Scope::Session)
            .await?;
        check_jwt_shape(t.jwt)
    }

    /// `POST /v1/client/sessions/{id}/tokens/{template}`.
    pub async fn template_token(&self, id: &SessionId, template: &str) -> Result<SessionToken> {
        let path = format!(
            "/v1/client/sessions/{}/tokens/{}",
            seg(id.as_str())?,
            seg(template)?
        );
        let t: TokenObject = self
            .call(Method::POST, &path, &[], Some(&[]), Scope::Session)
            .await?;
        check_jwt_shape(t.jwt)
    }

    /// `POST /v1/client/sessions/{id}/end`.
    pub async fn end_session(&self, id: &SessionId) -> Result<(Session, Option<Client>)> {
        let path = format!("/v1/client/sessions/{}/end", seg(id.as_str())?);
        self.envelope(Method::POST, &path, &[], Some(&[]), Scope::Session)
            .await
    }

    /// `POST /v1/client/sessions/{id}/remove`: signs that account out here.
    pub async fn remove_session(&self, id: &SessionId) -> Result<(Session, Option<Client>)> {
        let path = format!("/v1/client/sessions/{}/remove", seg(id.as_str())?);
        self.envelope(Method::POST, &path, &[], Some(&[]), Scope::Session)
            .await
    }

    /// `GET /v1/me` as `acting`.
    pub async fn me(&self, acting: &SessionId) -> Result<User> {
        Ok(self
            .envelope::<User>(
                Method::GET,
                "/v1/me",
                &[("_clerk_session_id", acting.as_str())],
                None,
                Scope::Session,
            )
            .await?
            .0)
    }

    /// `GET /v1/me/sessions/active`: the user's devices everywhere.
    pub async fn active_sessions(&self, acting: &SessionId) -> Result<Vec<SessionWithActivities>> {
        self.call(
            Method::GET,
            "/v1/me/sessions/active",
            &[("_clerk_session_id", acting.as_str())],
            None,
            Scope::Session,
        )
        .await
    }

    /// `GET /v1/me/sessions`: every session of the user.
    pub async fn user_sessions(&self, acting: &SessionId) -> Result<Vec<Session>> {
        self.call(
            Method::GET,
            "/v1/me/sessions",
            &[("_clerk_session_id", acting.as_str())],
            None,
            Scope::Session,
        )
        .await
    }

    /// `POST /v1/me/sessions/{id}/revoke`: revoke a session of the same user
    /// on any device. 403 → [`ErrorKind::ReverificationRequired`].
    pub async fn revoke_session(&self, acting: &SessionId, target: &SessionId) -> Result<Session> {
        let path = format!("/v1/me/sessions/{}/revoke", seg(target.as_str())?);
        // A 404 here names the *target*, not the acting session.
        match self
            .envelope::<Session>(
                Method::POST,
                &path,
                &[("_clerk_session_id", acting.as_str())],
                Some(&[]),
                Scope::Other,
            )
            .await
        {
            Ok((s, _)) => Ok(s),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/organizations/{id}/memberships`.
    pub async fn organization_memberships(
        &self,
        acting: &SessionId,
        org: &OrganizationId,
    ) -> Result<Vec<OrganizationMembership>> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Page {
            Paged { data: Vec<OrganizationMembership> },
            Bare(Vec<OrganizationMembership>),
        }
        let path = format!("/v1/organizations/{}/memberships", seg(org.as_str())?);
        let (p, _): (Page, Option<Client>) = self
            .envelope(
                Method::GET,
                &path,
                &[("_clerk_session_id", acting.as_str())],
                None,
                Scope::Other,
            )
            .await?;
        Ok(match p {
            Page::Paged { data } | Page::Bare(data) => data,
        })
    }
}

/// A `reqwest` client builder with TLS ready: installs rustls' `ring`
/// provider as the process default the first time (reqwest is built with
/// `rustls-no-provider`, which panics in `build()` without one). Every HTTP
/// client in Latchkey — the app's avatar fetches and the tests' clients too —
/// starts here.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Err means another provider is already the default: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// The HTTP client for an instance: Latchkey's User-Agent, timeouts, no
/// redirects. A Clerk instance is https-only with the system's roots; the
/// local demo instance is plain http on loopback, so it trusts no
/// certificate at all (which also skips loading the system store, ≈ 3–10 ms
/// per process).
pub(crate) fn http_client(instance: &Instance, total: Duration) -> Result<reqwest::Client> {
    let clerk = instance.kind() == crate::instance::InstanceKind::Clerk;
    let mut b = http_client_builder()
        .user_agent(user_agent())
        .connect_timeout(CONNECT_TIMEOUT.min(total))
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(clerk);
    if !clerk {
        b = b.tls_certs_only(Vec::<reqwest::Certificate>::new());
    }
    b.build()
        .map_err(|_| Error::new(ErrorKind::Config, "could not set up the HTTP client"))
}

/// A path segment must be a plain id (no `/`, `?`, `#`, `..`).
fn seg(s: &str) -> Result<&str> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(s)
    } else {
        Err(Error::new(ErrorKind::Config, "not a valid Clerk id"))
    }
}

fn protocol(msg: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("unexpected answer from the Clerk Frontend API: {msg}"),
    )
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        // The serde message names a field or type, never a value.
        let what = e.to_string();
        let what = what
            .split(" at line")
            .next()
            .unwrap_or("wrong shape")
            .to_owned();
        protocol(&what)
    })
}

fn check_jwt_shape(jwt: String) -> Result<SessionToken> {
    let ok = jwt.len() <= MAX_JWT
        && jwt.split('.').count() == 3
        && jwt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(SessionToken::new(jwt))
    } else {
        Err(protocol("the token is not a compact JWT"))
    }
}

async fn read_capped(mut res: reqwest::Response) -> Result<Vec<u8>> {
    if res.content_length().is_some_and(|n| n as usize > MAX_BODY) {
        return Err(protocol("the answer is larger than 1 MiB"));
    }
    let mut body = Vec::new();
    loop {
        match res.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_BODY {
                    return Err(protocol("the answer is larger than 1 MiB"));
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_error(e)),
        }
    }
}

/// Turns an HTTP answer into a value or a typed error.
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8], scope: Scope) -> Result<Answer> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    let json: Option<Value> = if is_json {
        serde_json::from_slice(body).ok()
    } else {
        None
    };
    if status.is_success() {
        return match json {
            Some(body) => Ok(Answer { body }),
            None if is_json => Err(protocol("the JSON is malformed or truncated")),
            None => Err(protocol(
                "the answer is not JSON (a captive portal or proxy?)",
            )),
        };
    }
    if status.is_redirection() {
        return Err(protocol("a redirect, which is not followed"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        return Err(Error::new(
            ErrorKind::RateLimited { retry_after },
            "Clerk is rate limiting requests; try again shortly",
        ));
    }
    if status.is_server_error() {
        return Err(Error::new(
            ErrorKind::Server,
            format!(
                "the Clerk Frontend API had a server error ({})",
                status.as_u16()
            ),
        ));
    }
    let first = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(|e| e.get(0));
    let Some(err) = first else {
        return Err(protocol(&format!(
            "status {} without a Clerk error",
            status.as_u16()
        )));
    };
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let long = err
        .get("long_message")
        .or_else(|| err.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the request was refused");
    let meta = err.get("meta");
    let param = meta
        .and_then(|m| m.get("param_name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let session_id = meta
        .and_then(|m| m.get("session_id"))
        .and_then(Value::as_str)
        .filter(|s| seg(s).is_ok())
        .map(str::to_owned);
    // Clerk's messages are fixed texts about the request; cap the length.
    let long: String = long.chars().take(300).collect();
    let kind = match (status.as_u16(), code.as_str(), scope) {
        (403, "session_reverification_required", _) => ErrorKind::ReverificationRequired,
        (404, "resource_not_found", Scope::Session) => ErrorKind::SessionGone,
        (401, "signed_out", Scope::Session) => ErrorKind::SessionGone,
        (401, _, _) => ErrorKind::Unauthenticated,
        (403, "user_banned" | "user_deactivated" | "user_locked", _) => ErrorKind::Unauthenticated,
        _ => ErrorKind::InvalidRequest {
            code: code.clone(),
            param,
            session_id,
        },
    };
    Err(Error::new(
        kind,
        format!("Clerk refused the request ({code}): {long}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_000); // 2015-10-21 07:20 UTC
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("0", now),
            Some(Duration::from_secs(1)),
            "clamped up"
        );
        assert_eq!(
            parse_retry_after("99999999", now),
            Some(Duration::from_secs(600)),
            "clamped down"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(480))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("abc", now), None);
        assert_eq!(parse_retry_after("", SystemTime::now()), None);
    }

    #[test]
    fn user_agent_names_latchkey() {
        let ua = user_agent();
        assert!(ua.starts_with("Latchkey/"), "{ua}");
        assert!(ua.contains("; "), "{ua}");
    }

    #[test]
    fn ids_in_paths_are_plain() {
        assert!(seg("sess_abc123").is_ok());
        for bad in ["", "../x", "a/b", "a?b", "a#b", "sess x", &"a".repeat(129)] {
            assert!(seg(bad).is_err(), "{bad}");
        }
    }
}

//! The typed Frontend API client (native mode).
//!
//! Every call: `_is_native=1` and `__clerk_api_version` in the query, the
//! Latchkey User-Agent, the client credential in `Authorization`, no
//! `Origin`, form bodies. A credential in an `Authorization` response header
//! replaces the stored one (empty = clear) — but only if the stored one is
//! still the one the request was sent with, so a late answer never
//! overwrites a newer credential. Persisting it is the caller's job (the
//! engine saves after every call; [`Fapi::credential_version`] tells it
//! something changed). Redirects are not followed, bodies are
//! capped at 1 MiB, timeouts are 10 s to connect and 20 s in all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, DATE, HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;

mod http;
mod server_time;

pub(crate) use http::http_client;
use http::{check_jwt_shape, classify, decode, protocol, read_capped, seg, transport_error};
pub use http::{http_client_builder, parse_retry_after};
pub use server_time::MAX_CLOCK_OFFSET;
use server_time::ServerClock;

use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::models::*;
use crate::secret::{ClientCredential, PkceVerifier, RotatingNonce, SessionToken, SignInTicket};
use crate::types::{OrgSel, OrganizationId, SessionId, SignInId};

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
    server: ServerClock,
}

impl std::fmt::Debug for Fapi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fapi")
            .field("instance", &self.instance.id())
            .finish_non_exhaustive()
    }
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

/// A `{response, client}` answer: the resource, and the client as it stands
/// after the call (Clerk piggybacks it on every mutation; `None` when it
/// sent `null` or nothing).
#[derive(Debug, Clone)]
pub struct Envelope<T> {
    /// The resource the call is about.
    pub response: T,
    /// This client, after the call.
    pub client: Option<Client>,
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
        Self::with_proxy(
            instance,
            credential,
            total,
            crate::proxy::ProxyEnv::from_process(),
        )
    }

    /// Like [`Fapi::with_timeout`] with these proxy settings instead of the
    /// process environment's.
    pub fn with_proxy(
        instance: Instance,
        credential: Option<ClientCredential>,
        total: Duration,
        proxy: &crate::proxy::ProxyEnv,
    ) -> Result<Self> {
        let http = http_client(&instance, total, proxy)?;
        Ok(Self {
            http,
            instance,
            slot: Arc::new(Mutex::new(CredentialSlot {
                value: credential,
                version: 0,
            })),
            server: ServerClock::new(Arc::new(crate::clock::SystemClock)),
        })
    }

    /// A client of the same instance with another credential (another Clerk
    /// client): it shares the HTTP client and the estimate of Clerk's clock.
    pub fn sibling(&self, credential: Option<ClientCredential>) -> Self {
        Self {
            http: self.http.clone(),
            instance: self.instance.clone(),
            slot: Arc::new(Mutex::new(CredentialSlot {
                value: credential,
                version: 0,
            })),
            server: self.server.clone(),
        }
    }

    /// The same client, measuring Clerk's clock against `clock` (the
    /// engine's, so tests can move it).
    pub fn with_clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        self.server = ServerClock::new(clock);
        self
    }

    /// The local clock this client reads (the engine's, when it set one).
    pub fn clock(&self) -> Arc<dyn crate::clock::Clock> {
        self.server.clock().clone()
    }

    /// Clerk's clock minus ours, in milliseconds, from the `Date` of recent
    /// answers (the median of the last few; `None` before any answer, or
    /// when every answer's `Date` was missing or more than 10 minutes off).
    pub fn clock_offset_ms(&self) -> Option<i64> {
        self.server.offset_ms()
    }

    /// The time at Clerk now (seconds since the epoch), once an answer told
    /// it.
    pub fn server_now_secs(&self) -> Option<i64> {
        self.server.now_secs()
    }

    /// The instance this client talks to.
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
        let mut s = self.lock();
        s.value = value;
        s.version += 1;
    }

    /// A number that changes whenever the credential does (a rotation in an
    /// answer, or [`set_credential`](Self::set_credential)). The engine
    /// persists after every call whose answer may have rotated it.
    pub fn credential_version(&self) -> u64 {
        self.lock().version
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
        if let Some(date) = headers.get(DATE).and_then(|v| v.to_str().ok()) {
            self.server.observe(date);
        }
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
        let mut s = self.lock();
        if s.version != sent_version {
            tracing::debug!("ignoring a credential from a stale response");
            return;
        }
        s.value = (!raw.is_empty()).then(|| ClientCredential::new(raw));
        s.version += 1;
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
        decode(a.body, "")
    }

    /// A `{response, client}` answer.
    async fn envelope<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        scope: Scope,
    ) -> Result<Envelope<T>> {
        let a = self.send(method, path, query, form, scope).await?;
        let Value::Object(mut m) = a.body else {
            return Err(protocol("expected a {response, client} object"));
        };
        if !m.contains_key("response") {
            return Err(protocol("the answer has no response field"));
        }
        let response = decode(m.remove("response").unwrap_or(Value::Null), "response")?;
        let client = match m.remove("client") {
            None | Some(Value::Null) => None,
            Some(c) => Some(decode(c, "client")?),
        };
        Ok(Envelope { response, client })
    }

    // ------------------------------------------------------------ operations

    /// `GET /v1/environment`.
    pub async fn environment(&self) -> Result<Environment> {
        self.call(Method::GET, "/v1/environment", &[], None, Scope::Other)
            .await
    }

    /// `GET /v1/client`; `None` when there is no client for the credential.
    pub async fn get_client(&self) -> Result<Option<Client>> {
        let e: Envelope<Option<Client>> = self
            .envelope(Method::GET, "/v1/client", &[], None, Scope::Other)
            .await?;
        Ok(e.response)
    }

    /// `POST /v1/client`: a new client (and credential).
    pub async fn create_client(&self) -> Result<Client> {
        let e: Envelope<Client> = self
            .envelope(Method::POST, "/v1/client", &[], Some(&[]), Scope::Other)
            .await?;
        Ok(e.response)
    }

    /// `DELETE /v1/client`: ends every session and the client itself.
    pub async fn delete_client(&self) -> Result<()> {
        let _: Envelope<Value> = self
            .envelope(Method::DELETE, "/v1/client", &[], None, Scope::Other)
            .await?;
        Ok(())
    }

    /// `DELETE /v1/client/sessions`: signs out every session on this client.
    pub async fn sign_out_all(&self) -> Result<Option<Client>> {
        let e: Envelope<Option<Client>> = self
            .envelope(
                Method::DELETE,
                "/v1/client/sessions",
                &[],
                None,
                Scope::Other,
            )
            .await?;
        Ok(e.response)
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
        let e: Envelope<Hosted> = self
            .envelope(
                Method::POST,
                "/v1/client/hosted_auth",
                &[],
                Some(&form),
                Scope::Other,
            )
            .await?;
        Ok(e.response.url)
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
        let e: Envelope<Option<Client>> = self
            .envelope(Method::POST, "/v1/client", &[], Some(&form), Scope::Other)
            .await?;
        e.response.ok_or_else(|| {
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
        let e: Envelope<SignIn> = self
            .envelope(
                Method::POST,
                "/v1/client/sign_ins",
                &[],
                Some(form),
                Scope::Other,
            )
            .await?;
        Ok(e.response)
    }

    /// `GET /v1/client/sign_ins/{id}` with the callback's nonce.
    pub async fn reload_sign_in(&self, id: &SignInId, nonce: &RotatingNonce) -> Result<SignIn> {
        let path = format!("/v1/client/sign_ins/{}", seg(id.as_str())?);
        let e: Envelope<SignIn> = self
            .envelope(
                Method::GET,
                &path,
                &[("rotating_token_nonce", nonce.expose())],
                None,
                Scope::Other,
            )
            .await?;
        Ok(e.response)
    }

    /// `POST /v1/client/sign_ups` with `transfer=true`.
    pub async fn transfer_to_sign_up(&self) -> Result<SignUp> {
        let e: Envelope<SignUp> = self
            .envelope(
                Method::POST,
                "/v1/client/sign_ups",
                &[],
                Some(&[("transfer", "true")]),
                Scope::Other,
            )
            .await?;
        Ok(e.response)
    }

    /// `GET /v1/client/sessions/{id}`.
    pub async fn get_session(&self, id: &SessionId) -> Result<Session> {
        let path = format!("/v1/client/sessions/{}", seg(id.as_str())?);
        Ok(self
            .envelope::<Session>(Method::GET, &path, &[], None, Scope::Session)
            .await?
            .response)
    }

    /// `POST /v1/client/sessions/{id}/touch`: makes it the active session,
    /// with `org` active (`None` = personal account).
    pub async fn touch(
        &self,
        id: &SessionId,
        org: Option<&OrganizationId>,
        intent: &str,
    ) -> Result<Envelope<Session>> {
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

    /// `POST /v1/client/sessions/{id}/tokens`, for `org`: no
    /// `organization_id` for the session's active one, an empty one for the
    /// personal account, else its id.
    pub async fn session_token(&self, id: &SessionId, org: &OrgSel) -> Result<SessionToken> {
        let path = format!("/v1/client/sessions/{}/tokens", seg(id.as_str())?);
        let form: Vec<(&str, &str)> = match org {
            OrgSel::Active => vec![],
            OrgSel::Personal => vec![("organization_id", "")],
            OrgSel::Org(o) => vec![("organization_id", o.as_str())],
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
    pub async fn end_session(&self, id: &SessionId) -> Result<Envelope<Session>> {
        let path = format!("/v1/client/sessions/{}/end", seg(id.as_str())?);
        self.envelope(Method::POST, &path, &[], Some(&[]), Scope::Session)
            .await
    }

    /// `POST /v1/client/sessions/{id}/remove`: signs that account out here.
    pub async fn remove_session(&self, id: &SessionId) -> Result<Envelope<Session>> {
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
            .response)
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
        Ok(self
            .envelope::<Session>(
                Method::POST,
                &path,
                &[("_clerk_session_id", acting.as_str())],
                Some(&[]),
                Scope::Other,
            )
            .await?
            .response)
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
        let e: Envelope<Page> = self
            .envelope(
                Method::GET,
                &path,
                &[("_clerk_session_id", acting.as_str())],
                None,
                Scope::Other,
            )
            .await?;
        Ok(match e.response {
            Page::Paged { data } | Page::Bare(data) => data,
        })
    }
}

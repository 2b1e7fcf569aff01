//! Frontend API handlers (native mode), one module per resource, in the
//! order of the router (`server.rs`):
//!
//! | module | paths |
//! | --- | --- |
//! | [`client`] | `/v1/environment`, `/v1/client`, `/v1/client/sessions` (DELETE), JWKS |
//! | [`hosted`] | `/v1/client/hosted_auth`, and its redemption (`POST /v1/client` `_method=GET`) |
//! | [`sign_ins`] | `/v1/client/sign_ins[/{id}[/attempt_*]]` |
//! | [`sign_ups`] | `/v1/client/sign_ups[/{id}/*_verification]` |
//! | [`sessions`] | `/v1/client/sessions/{id}[/touch|/end|/remove]` |
//! | [`tokens`] | `/v1/client/sessions/{id}/tokens[/{template}]` |
//! | [`me`] | `/v1/me`, `/v1/me/sessions*`, `/v1/organizations/{id}/memberships` |
//!
//! Shapes follow `docs/contracts.md` ("Wire format") and the FAPI spec:
//! `{response, client}` envelopes for client, sign-in and session calls,
//! bare objects for the environment and tokens, bare arrays for
//! `/me/sessions*`. A created or rotated client credential goes back in the
//! `Authorization` response header.
//!
//! Every handler takes a [`Call`] (the server state and what the request
//! prelude read) and asks it for what it acts on: [`Call::client`] ("the
//! current client"), [`Call::session`] (a session listed on it) or
//! [`Call::acting`] ("the acting session" of `/v1/me/*`). Each returns a
//! [`Scope`] that holds the state's lock for the rest of the handler, so the
//! check and the change it guards happen atomically — which is why these
//! are methods on one extractor rather than separate extractors (a
//! `FromRequestParts` could not hand the lock on to the handler).

mod client;
mod hosted;
mod me;
mod sessions;
mod sign_ins;
mod sign_ups;
mod tokens;

use std::sync::MutexGuard;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub(crate) use client::{
    create_client, delete_client, delete_client_sessions, environment, get_client, jwks,
};
pub(crate) use hosted::hosted_auth;
pub(crate) use me::{me, me_active_sessions, me_revoke_session, me_sessions, org_memberships};
pub(crate) use sessions::{end_session, get_session, remove_session, touch_session};
pub(crate) use sign_ins::{
    attempt_first_factor, attempt_second_factor, create_sign_in, get_sign_in,
};
pub(crate) use sign_ups::{
    attempt_sign_up_verification, create_sign_up, prepare_sign_up_verification,
};
pub(crate) use tokens::{create_template_token, create_token};

use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::ids::random_token;
use crate::model::{Nonce, Session};
use crate::render::Render;
use crate::state::{AppState, Inner};
use crate::store::Db;

/// OAuth providers the emulator's fake provider pages serve.
pub(crate) const PROVIDERS: &[(&str, &str)] = &[("google", "Google"), ("github", "GitHub")];

/// The client identified by the request's credential, if any: the
/// credential must carry the client's current rotating token (a rotated-away
/// credential names nobody) and the client must not have been ended.
pub(crate) fn current_client(state: &Inner, db: &Db, ctx: &Ctx) -> Option<String> {
    let cred = ctx.credential.as_deref()?;
    let (id, rotating) = state.keys.parse_client_credential(cred)?;
    let c = db.clients.get(&id)?;
    let same: bool = c
        .rotating_token
        .as_bytes()
        .ct_eq(rotating.as_bytes())
        .into();
    (same && !c.ended).then_some(id)
}

/// One FAPI request: the server state and what the prelude read
/// (parameters, credential, origin, address). The extractor of every
/// handler here.
pub(crate) struct Call {
    pub state: AppState,
    pub ctx: Ctx,
    /// With test controls: mint this request's token this many seconds in
    /// the past (`FaultAction::StaleToken`).
    stale_token: Option<u64>,
}

impl FromRequestParts<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The prelude (`context.rs`) wraps the whole router and always
        // inserts the context; its absence is a wiring bug.
        let ctx = parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .ok_or_else(ApiError::internal)?;
        #[cfg(feature = "test-controls")]
        let stale_token = parts
            .extensions
            .get::<crate::controls::StaleToken>()
            .map(|s| s.0);
        #[cfg(not(feature = "test-controls"))]
        let stale_token = None;
        Ok(Call {
            state: state.clone(),
            ctx,
            stale_token,
        })
    }
}

/// The locked state and the client a request acts for.
pub(crate) struct Scope<'a> {
    pub call: &'a Call,
    pub db: MutexGuard<'a, Db>,
    pub client_id: String,
    /// The client was created by this request: its credential must be sent.
    pub created: bool,
    /// The session the request is about ([`Call::session`]) or acts as
    /// ([`Call::acting`]); `None` for [`Call::client`].
    pub session: Option<Session>,
}

impl Call {
    /// A parameter from the form body, else the query string.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.ctx.param(name)
    }

    /// A parameter that must be present and non-empty (422 otherwise).
    pub fn required(&self, name: &str) -> ApiResult<&str> {
        self.ctx.required(name)
    }

    /// The instance state, locked (session expiry applied).
    pub fn db(&self) -> MutexGuard<'_, Db> {
        self.state.db()
    }

    fn scope<'a>(&'a self, db: MutexGuard<'a, Db>, client_id: String) -> Scope<'a> {
        Scope {
            call: self,
            db,
            client_id,
            created: false,
            session: None,
        }
    }

    /// The current client; 400 `client_not_found` without one.
    pub fn client(&self) -> ApiResult<Scope<'_>> {
        let db = self.db();
        let id =
            current_client(&self.state, &db, &self.ctx).ok_or_else(ApiError::client_not_found)?;
        Ok(self.scope(db, id))
    }

    /// The current client, or a new one: the first call of a native SDK
    /// (hosted auth, a sign-in) creates its client, and the answer carries
    /// the new credential.
    pub fn client_or_new(&self) -> Scope<'_> {
        self.client_or_new_locked(self.db())
    }

    /// [`Call::client_or_new`] with the state already locked (a handler that
    /// checks its input first creates no client when the input is refused).
    pub fn client_or_new_locked<'a>(&'a self, mut db: MutexGuard<'a, Db>) -> Scope<'a> {
        let (id, created) = match current_client(&self.state, &db, &self.ctx) {
            Some(id) => (id, false),
            None => (db.create_client(self.state.clock.now_ms()), true),
        };
        let mut s = self.scope(db, id);
        s.created = created;
        s
    }

    /// Session `id` if it is listed on the current client (any status);
    /// 404 `resource_not_found` otherwise, as Clerk answers for a session
    /// that is not this client's.
    pub fn session(&self, id: &str) -> ApiResult<Scope<'_>> {
        let db = self.db();
        let cid = current_client(&self.state, &db, &self.ctx)
            .ok_or_else(|| ApiError::session_not_found(id))?;
        if !db.client_session_ids(&cid).iter().any(|s| s == id) {
            return Err(ApiError::session_not_found(id));
        }
        let s = db
            .sessions
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::session_not_found(id))?;
        let mut scope = self.scope(db, cid);
        scope.session = Some(s);
        Ok(scope)
    }

    /// The acting session of `/v1/me/*`: `_clerk_session_id`, else the
    /// client's last active session (Clerk's fallback is unconfirmed; the
    /// SDKs always send the parameter). It must be signed in on this
    /// client: 401 `signed_out` otherwise.
    pub fn acting(&self) -> ApiResult<Scope<'_>> {
        let db = self.db();
        let cid = current_client(&self.state, &db, &self.ctx).ok_or_else(ApiError::signed_out)?;
        let sid = match self.param("_clerk_session_id").filter(|s| !s.is_empty()) {
            Some(s) => s.to_owned(),
            None => db
                .clients
                .get(&cid)
                .and_then(|c| c.last_active_session_id.clone())
                .ok_or_else(ApiError::signed_out)?,
        };
        let s = db
            .sessions
            .get(&sid)
            .filter(|s| s.client_id == cid && s.status.is_signed_in())
            .cloned()
            .ok_or_else(ApiError::signed_out)?;
        let mut scope = self.scope(db, cid);
        scope.session = Some(s);
        Ok(scope)
    }

    /// Token claims as minted, or moved into the past when a test asked for
    /// a stale token (never in the build users run).
    pub fn stale(&self, mut claims: Value) -> Value {
        if let Some(secs) = self.stale_token {
            let back = i64::try_from(secs).unwrap_or(i64::MAX);
            for k in ["iat", "nbf", "exp"] {
                if let Some(t) = claims.get(k).and_then(Value::as_i64) {
                    claims[k] = json!(t.saturating_sub(back));
                }
            }
        }
        claims
    }

    /// Applies one of Clerk's per-IP rate limits (429 with `Retry-After`).
    pub fn rate(&self, limit: (&'static str, usize, i64)) -> ApiResult<()> {
        self.state
            .check_rate(&self.ctx.ip, limit)
            .map_err(ApiError::too_many_requests)
    }
}

impl Scope<'_> {
    /// The session of [`Call::session`] / [`Call::acting`].
    pub fn session(&self) -> ApiResult<&Session> {
        self.session.as_ref().ok_or_else(ApiError::internal)
    }

    /// Renders resources as of now.
    pub fn render(&self) -> Render<'_> {
        render(&self.call.state, &self.db)
    }

    /// The client's credential as it stands (after a rotation: the new one).
    pub fn credential(&self) -> Option<String> {
        credential_for(&self.call.state, &self.db, &self.client_id)
    }

    /// The credential to send back: only when this request created the
    /// client.
    pub fn new_credential(&self) -> Option<String> {
        if self.created {
            self.credential()
        } else {
            None
        }
    }

    /// `{response, client}` for this client.
    pub fn envelope(&mut self, response: Value) -> Value {
        let cid = self.client_id.clone();
        envelope(&self.call.state, &mut self.db, Some(&cid), response)
    }

    /// `{response: Client, client: Client}`.
    pub fn client_envelope(&mut self) -> Value {
        let cid = self.client_id.clone();
        client_envelope(&self.call.state, &mut self.db, Some(&cid))
    }

    /// Writes the state to the data dir (after a change).
    pub fn persist(&self) {
        self.call.state.persist(&self.db);
    }
}

fn credential_for(state: &Inner, db: &Db, client_id: &str) -> Option<String> {
    let c = db.clients.get(client_id)?;
    Some(
        state
            .keys
            .client_credential(&c.id, &c.rotating_token, state.clock.now_secs()),
    )
}

/// Renders `{response, client}` with `last_active_token`s filled in (clerk-js
/// seeds its token cache from them).
fn envelope(state: &Inner, db: &mut Db, client_id: Option<&str>, response: Value) -> Value {
    if let Some(cid) = client_id {
        for sid in db.client_session_ids(cid) {
            state.ensure_cached_token(db, &sid);
        }
    }
    let r = render(state, db);
    let client = r.client(client_id.and_then(|id| db.clients.get(id)));
    json!({ "response": response, "client": client })
}

/// `{response: Client, client: Client}`: the answer of the calls whose
/// resource is the client itself (`null` twice without a client).
fn client_envelope(state: &Inner, db: &mut Db, client_id: Option<&str>) -> Value {
    let mut body = envelope(state, db, client_id, Value::Null);
    body["response"] = body["client"].clone();
    body
}

/// A JSON response, with a credential in `Authorization` when given (native
/// SDKs store whatever arrives there; an empty value clears theirs).
pub(crate) fn reply(body: Value, credential: Option<String>) -> Response {
    let mut res = Json(body).into_response();
    if let Some(c) = credential
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        res.headers_mut().insert(header::AUTHORIZATION, v);
    }
    res
}

fn render<'a>(state: &'a Inner, db: &'a Db) -> Render<'a> {
    Render {
        db,
        base: &state.base_url,
        now: state.clock.now_ms(),
    }
}

fn invalid_nonce(why: &str) -> ApiError {
    ApiError::param_invalid(
        "rotating_token_nonce",
        format!("The rotating_token_nonce is {why}"),
    )
}

/// Issues a `rotating_token_nonce` valid for `nonce_ms`.
pub(crate) fn new_nonce(state: &Inner) -> Nonce {
    Nonce {
        value: random_token(24),
        expires_at: state.clock.now_ms() + state.settings.lifetimes.nonce_ms,
        used: false,
    }
}

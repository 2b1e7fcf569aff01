//! Backend API subset: the calls the emulator's tests and the demo web app
//! need (Clerk's BAPI spec is in `spec/clerk-openapi/`), served under
//! `/bapi/v1/…` and authenticated with the instance's secret key
//! (`Authorization: Bearer sk_test_…`). JSON bodies.
//!
//! Extension: `POST /bapi/v1/sessions` also takes `user_agent`,
//! `ip_address` and `actor`, and creates the session on a new "other device"
//! client, so tests and demos can populate the active-devices list and show
//! impersonated sessions.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::model::{SessionStatus, SignInToken};
use crate::render::Render;
use crate::state::{AppState, Inner};
use crate::store::{Db, NewSession, NewUser};

/// Longest sign-in token lifetime the emulator grants (Clerk's default).
const MAX_SIGN_IN_TOKEN_SECS: i64 = 2_592_000;

/// Rejects requests without the instance's secret key, with the codes
/// Clerk's BAPI uses (401 `authorization_header_format_invalid` for a
/// header that is not `Bearer …`, 401 `authentication_invalid` for a wrong
/// key).
pub(crate) async fn auth(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(key) = value.strip_prefix("Bearer ") else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authorization_header_format_invalid",
            "Invalid Authorization header format",
            "Must be 'Bearer <YOUR_API_KEY>'",
        )
        .into_response();
    };
    if !bool::from(key.trim().as_bytes().ct_eq(state.secret_key.as_bytes())) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_invalid",
            "Invalid authentication",
            "The provided secret key is invalid",
        )
        .into_response();
    }
    next.run(req).await
}

fn render<'a>(state: &'a Inner, db: &'a Db) -> Render<'a> {
    Render {
        db,
        base: &state.base_url,
        now: state.clock.now_ms(),
    }
}

/// Parses a JSON body into `T`, answering Clerk-style 422s on bad input.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
            "is invalid",
            format!("The request body is not valid: {e}"),
        )
    })
}

#[derive(Deserialize)]
struct CreateUser {
    #[serde(default)]
    email_address: Vec<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `POST /v1/users` (JSON): a new user with one verified email address.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let u: CreateUser = parse(&body)?;
    let email = u
        .email_address
        .first()
        .cloned()
        .ok_or_else(|| ApiError::param_missing("email_address"))?;
    if !email.contains('@') {
        return Err(ApiError::param_format_invalid(
            "email_address",
            "email_address must be a valid email address",
        ));
    }
    let mut db = state.db();
    if db.user_by_email(&email).is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_exists",
            "That email address is taken. Please try another.",
            "That email address is taken. Please try another.",
        )
        .with_meta("param_name", "email_address"));
    }
    let id = db.add_user(NewUser {
        first_name: u.first_name,
        last_name: u.last_name,
        username: u.username,
        email,
        password: u.password,
        avatar_color: None,
        mfa: false,
        now: state.clock.now_ms(),
    });
    let user = db.users.get(&id).cloned().ok_or_else(ApiError::internal)?;
    let v = render(&state, &db).user(&user);
    state.persist(&db);
    Ok(Json(v))
}

/// `GET /v1/users[?email_address=…]`.
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let db = state.db();
    let r = render(&state, &db);
    let filter = q.get("email_address");
    Json(Value::Array(
        db.users
            .values()
            .filter(|u| filter.is_none_or(|e| u.email.eq_ignore_ascii_case(e)))
            .map(|u| r.user(u))
            .collect(),
    ))
}

/// A single-use sign-in token (`sit_…`) for `user_id`, valid `secs`. The
/// token itself is a JWT of the shape Clerk's old docs show (`sid`, `iid`,
/// `st: sign_in_token`, `exp`); clients must treat it as opaque.
pub(crate) fn mint_sign_in_token(
    state: &Inner,
    db: &mut Db,
    user_id: &str,
    secs: i64,
) -> SignInToken {
    let now = state.clock.now_ms();
    let id = new_id("sit");
    let exp_ms = now + secs * 1000;
    let token = state
        .keys
        .sign_in_token(&id, &state.instance_id, exp_ms / 1000);
    let t = SignInToken {
        id: id.clone(),
        user_id: user_id.to_owned(),
        token,
        status: "pending".to_owned(),
        expires_at: exp_ms,
        created_at: now,
        updated_at: now,
    };
    db.sign_in_tokens.insert(id, t.clone());
    t
}

fn sign_in_token_json(state: &Inner, t: &SignInToken) -> Value {
    let url = format!("{}/v1/tickets/accept?ticket={}", state.base_url, t.token);
    json!({
        "object": "sign_in_token",
        "id": t.id,
        "user_id": t.user_id,
        "token": t.token,
        "status": t.status,
        "url": url,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

#[derive(Deserialize)]
struct CreateSignInToken {
    user_id: Option<String>,
    expires_in_seconds: Option<i64>,
}

/// `POST /v1/sign_in_tokens` `{user_id, expires_in_seconds}`: Clerk's
/// default lifetime is 30 days (`MAX_SIGN_IN_TOKEN_SECS`), which is why the
/// demo web app asks for much less (docs/threat-model.md, T4).
pub(crate) async fn create_sign_in_token(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let req: CreateSignInToken = parse(&body)?;
    let user_id = req
        .user_id
        .ok_or_else(|| ApiError::param_missing("user_id"))?;
    let secs = req.expires_in_seconds.unwrap_or(MAX_SIGN_IN_TOKEN_SECS);
    if !(1..=MAX_SIGN_IN_TOKEN_SECS).contains(&secs) {
        return Err(ApiError::param_invalid(
            "expires_in_seconds",
            format!("expires_in_seconds must be between 1 and {MAX_SIGN_IN_TOKEN_SECS}"),
        ));
    }
    let mut db = state.db();
    if !db.users.contains_key(&user_id) {
        return Err(ApiError::not_found("User", &user_id));
    }
    let t = mint_sign_in_token(&state, &mut db, &user_id, secs);
    state.persist(&db);
    Ok(Json(sign_in_token_json(&state, &t)))
}

/// `POST /v1/sign_in_tokens/{id}/revoke`: only `pending` tokens (Clerk: 400
/// `sign_in_token_cannot_be_revoked_code` otherwise).
pub(crate) async fn revoke_sign_in_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut db = state.db();
    let now = state.clock.now_ms();
    let t = db
        .sign_in_tokens
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("Sign in token", &id))?;
    if t.status != "pending" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "sign_in_token_cannot_be_revoked_code",
            "Sign in token cannot be revoked",
            "Only pending sign in tokens can be revoked",
        ));
    }
    t.status = "revoked".to_owned();
    t.updated_at = now;
    let t = t.clone();
    state.persist(&db);
    Ok(Json(sign_in_token_json(&state, &t)))
}

/// `GET /v1/sessions?user_id|client_id[&status][&limit][&offset][&paginated]`:
/// newest first; `paginated=true` (what the Node SDK sends) wraps the list
/// as `{data, total_count}`, otherwise a bare array (the spec's two shapes).
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (user, client) = (q.get("user_id"), q.get("client_id"));
    if user.is_none() && client.is_none() {
        return Err(ApiError::param_missing("user_id"));
    }
    let status = q.get("status");
    let limit: usize = match q.get("limit") {
        Some(l) => l
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::param_invalid("limit", "limit must be between 1 and 500"))?,
        None => 10,
    };
    let offset: usize = match q.get("offset") {
        Some(o) => o
            .parse()
            .map_err(|_| ApiError::param_invalid("offset", "offset must be a whole number"))?,
        None => 0,
    };
    let db = state.db();
    let mut all: Vec<_> = db
        .sessions
        .values()
        .filter(|s| user.is_none_or(|u| &s.user_id == u))
        .filter(|s| client.is_none_or(|c| &s.client_id == c))
        .filter(|s| status.is_none_or(|st| s.status.as_str() == st))
        .collect();
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let total = all.len();
    let r = render(&state, &db);
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|s| r.bapi_session(s))
        .collect();
    if q.get("paginated").map(String::as_str) == Some("true") {
        Ok(Json(json!({"data": page, "total_count": total})))
    } else {
        Ok(Json(Value::Array(page)))
    }
}

/// `GET /v1/sessions/{id}` (BAPI `Session`, with `latest_activity`).
pub(crate) async fn get_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let db = state.db();
    let s = db
        .sessions
        .get(&id)
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    Ok(Json(render(&state, &db).bapi_session(s)))
}

#[derive(Deserialize)]
struct CreateSession {
    user_id: Option<String>,
    active_organization_id: Option<String>,
    user_agent: Option<String>,
    ip_address: Option<String>,
    actor: Option<Value>,
}

/// `POST /v1/sessions`: an active session for `user_id`, created on a new
/// client that stands for "another device" (see the module docs for the
/// extra fields).
pub(crate) async fn create_session(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let req: CreateSession = parse(&body)?;
    let user_id = req
        .user_id
        .ok_or_else(|| ApiError::param_missing("user_id"))?;
    let mut db = state.db();
    if !db.users.contains_key(&user_id) {
        return Err(ApiError::not_found("User", &user_id));
    }
    let org = match req.active_organization_id.as_deref() {
        None | Some("") => None,
        Some(o) => Some(
            db.membership(&user_id, o)
                .map(|m| m.org_id.clone())
                .ok_or_else(|| ApiError::not_found("Organization", o))?,
        ),
    };
    if let Some(a) = &req.actor
        && !a.get("sub").is_some_and(Value::is_string)
    {
        return Err(ApiError::param_invalid(
            "actor",
            "actor must be an object with a sub",
        ));
    }
    let now = state.clock.now_ms();
    let cid = db.create_client(now);
    let sid = db.create_session(NewSession {
        client_id: &cid,
        user_id: &user_id,
        now,
        user_agent: req.user_agent,
        ip_address: req.ip_address,
        actor: req.actor,
        org_id: org,
        lifetimes: &state.settings.lifetimes,
        second_factor_at: None,
        tasks: Vec::new(),
    });
    if let Some(c) = db.clients.get_mut(&cid) {
        c.last_active_session_id = Some(sid.clone());
    }
    let s = db.sessions.get(&sid).ok_or_else(ApiError::internal)?;
    let v = render(&state, &db).bapi_session(s);
    state.persist(&db);
    Ok(Json(v))
}

/// `POST /v1/sessions/{id}/revoke`: status `revoked` ("an unauthenticated
/// state"); the session's own client notices on its next request.
pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let mut db = state.db();
    let s = db
        .sessions
        .get(&id)
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    if !s.status.is_signed_in() {
        return Err(ApiError::invalid_action("revoke", &id));
    }
    db.set_status(&id, SessionStatus::Revoked, state.clock.now_ms());
    let s = db.sessions.get(&id).ok_or_else(ApiError::internal)?;
    let v = render(&state, &db).bapi_session(s);
    state.persist(&db);
    Ok(Json(v))
}

/// `GET /v1/jwks`: the same keys as the Frontend API's JWKS.
pub(crate) async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.keys.jwks())
}

/// Unknown BAPI path: Clerk-style 404.
pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "not found",
        "The requested resource was not found",
    )
}

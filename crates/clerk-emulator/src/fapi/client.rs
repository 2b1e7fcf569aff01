//! The client itself: `GET|PUT|POST|DELETE /v1/client`, `DELETE
//! /v1/client/sessions`, plus the two unauthenticated reads (environment,
//! JWKS).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Call, client_envelope, credential_for, reply};
use crate::error::ApiResult;
use crate::model::SessionStatus;
use crate::state::AppState;

/// `GET /v1/environment` (bare object; clerk-js reads it on every load).
pub(crate) async fn environment(State(state): State<AppState>) -> Json<Value> {
    let db = state.db();
    Json(crate::environment::environment(&state, &db))
}

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.keys.jwks())
}

/// `GET /v1/client`, and `POST /v1/client` with `_method=GET`, which is how
/// hosted auth is redeemed (`rotating_token_nonce` + `code_verifier`).
/// Without a (valid) credential: `{"response": null, "client": null}`, the
/// answer Clerk's iOS SDK fixtures show for "no client yet".
pub(crate) async fn get_client(call: Call) -> ApiResult<Response> {
    if call.param("rotating_token_nonce").is_some() {
        return super::hosted::redeem_hosted_auth(&call);
    }
    let mut db = call.db();
    let client = super::current_client(&call.state, &db, &call.ctx);
    let body = client_envelope(&call.state, &mut db, client.as_deref());
    Ok(reply(body, None))
}

/// `PUT|POST /v1/client`: a new client and its credential.
pub(crate) async fn create_client(State(state): State<AppState>) -> ApiResult<Response> {
    let mut db = state.db();
    let id = db.create_client(state.clock.now_ms());
    let cred = credential_for(&state, &db, &id);
    let body = client_envelope(&state, &mut db, Some(&id));
    state.persist(&db);
    Ok(reply(body, cred))
}

/// `DELETE /v1/client`: ends every session and the client itself (clerk-js
/// `signOut({ persistClient: false })`).
pub(crate) async fn delete_client(call: Call) -> ApiResult<Response> {
    let mut at = call.client()?;
    let now = call.state.clock.now_ms();
    let ids: Vec<String> = at
        .db
        .signed_in_on_client(&at.client_id)
        .iter()
        .map(|s| s.id.clone())
        .collect();
    for sid in ids {
        at.db.set_status(&sid, SessionStatus::Ended, now);
    }
    if let Some(c) = at.db.clients.get_mut(&at.client_id) {
        c.ended = true;
        c.updated_at = now;
    }
    at.persist();
    // An empty Authorization header tells native SDKs to clear the credential.
    Ok(reply(
        json!({"response": null, "client": null}),
        Some(String::new()),
    ))
}

/// `DELETE /v1/client/sessions`: signs every session out and keeps the
/// client and its credential (clerk-js's default `signOut()`).
pub(crate) async fn delete_client_sessions(call: Call) -> ApiResult<Response> {
    let mut at = call.client()?;
    let now = call.state.clock.now_ms();
    let ids: Vec<String> = at
        .db
        .signed_in_on_client(&at.client_id)
        .iter()
        .map(|s| s.id.clone())
        .collect();
    for sid in ids {
        at.db.set_status(&sid, SessionStatus::Removed, now);
    }
    if let Some(c) = at.db.clients.get_mut(&at.client_id) {
        c.last_active_session_id = None;
        c.sign_in_id = None;
        c.sign_up_id = None;
    }
    let body = at.client_envelope();
    at.persist();
    Ok(reply(body, None))
}

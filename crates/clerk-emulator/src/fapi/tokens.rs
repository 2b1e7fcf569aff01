//! Session tokens: `POST /v1/client/sessions/{id}/tokens` (a fresh v2
//! session JWT, optionally for another organization) and
//! `…/tokens/{template}` (a JWT-template token: template claims, no `sid`).
//! Both answer the bare `{"object":"token","jwt"}` (clerk-js reads `jwt`
//! straight off the body and retries if it is wrapped).
//!
//! RS256 signing happens after the state's lock is released: it is the
//! expensive part of the call.

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

use super::Call;
use super::sessions::resolve_org;
use crate::error::{ApiError, ApiResult};

/// `POST /v1/client/sessions/{id}/tokens`.
pub(crate) async fn create_token(call: Call, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let claims = {
        let mut at = call.session(&id)?;
        let s = at.session()?.clone();
        if !s.status.is_signed_in() {
            return Err(ApiError::signed_out());
        }
        // Absent: the session's organization; empty: the personal account.
        let org = resolve_org(
            &at.db,
            &s.user_id,
            call.param("organization_id"),
            s.last_active_org_id.clone(),
            "organization_id",
        )?;
        let (claims, _, _) =
            call.state
                .session_claims(&at.db, &s, org.as_deref(), call.ctx.origin.as_deref());
        if let Some(sess) = at.db.sessions.get_mut(&id) {
            sess.last_active_at = call.state.clock.now_ms();
        }
        claims
    };
    let jwt = call
        .state
        .keys
        .sign(&call.stale(claims))
        .ok_or_else(ApiError::internal)?;
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

/// `POST /v1/client/sessions/{id}/tokens/{template}`.
pub(crate) async fn create_template_token(
    call: Call,
    Path((id, template)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let claims = {
        let at = call.session(&id)?;
        let s = at.session()?;
        if !s.status.is_signed_in() {
            return Err(ApiError::signed_out());
        }
        let t = at
            .db
            .templates
            .get(&template)
            .cloned()
            .ok_or_else(|| ApiError::not_found("JWT template", &template))?;
        crate::templates::claims(&call.state, &at.db, s, &t, call.ctx.origin.as_deref())
    };
    let jwt = call
        .state
        .keys
        .sign(&call.stale(claims))
        .ok_or_else(ApiError::internal)?;
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

//! The signed-in user, acting through one session of this client
//! (`_clerk_session_id`): `GET /v1/me`, the user's sessions on every device
//! (`/v1/me/sessions/active` — the "Active devices" list — and
//! `/v1/me/sessions`), revoking one of them, and an organization's members.
//! Without a signed-in acting session: 401 `signed_out`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Call, reply};
use crate::error::{ApiError, ApiResult};
use crate::model::{Session, SessionStatus};

/// `GET /v1/me`.
pub(crate) async fn me(call: Call) -> ApiResult<Response> {
    let mut at = call.acting()?;
    let user = at
        .db
        .users
        .get(&at.session()?.user_id)
        .cloned()
        .ok_or_else(ApiError::signed_out)?;
    let response = at.render().user(&user);
    Ok(reply(at.envelope(response), None))
}

/// `GET /v1/me/sessions/active`: every signed-in session of the user on
/// every client, most recently active first (bare array).
pub(crate) async fn me_active_sessions(call: Call) -> ApiResult<Json<Value>> {
    let mut at = call.acting()?;
    let user_id = at.session()?.user_id.clone();
    let mut ids: Vec<(i64, String)> = at
        .db
        .sessions
        .values()
        .filter(|x| x.user_id == user_id && x.status.is_signed_in())
        .map(|x| (x.last_active_at, x.id.clone()))
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    for (_, id) in &ids {
        call.state.ensure_cached_token(&mut at.db, id);
    }
    let r = at.render();
    Ok(Json(Value::Array(
        ids.iter()
            .filter_map(|(_, id)| at.db.sessions.get(id))
            .map(|x| r.active_session(x))
            .collect(),
    )))
}

/// `GET /v1/me/sessions`: all sessions of the user (bare array).
pub(crate) async fn me_sessions(call: Call) -> ApiResult<Json<Value>> {
    let at = call.acting()?;
    let user_id = &at.session()?.user_id;
    let mut all: Vec<&Session> = at
        .db
        .sessions
        .values()
        .filter(|x| &x.user_id == user_id)
        .collect();
    all.sort_by(|a, b| {
        b.last_active_at
            .cmp(&a.last_active_at)
            .then(a.id.cmp(&b.id))
    });
    let r = at.render();
    Ok(Json(Value::Array(
        all.into_iter().map(|x| r.session(x)).collect(),
    )))
}

/// `POST /v1/me/sessions/{id}/revoke`: revoke any session of the same user,
/// on any device. With `--reverification-minutes`, the acting session's
/// first factor must be recent enough: 403 `session_reverification_required`
/// otherwise (Clerk's step-up, `useReverification` in its UI).
pub(crate) async fn me_revoke_session(call: Call, Path(id): Path<String>) -> ApiResult<Response> {
    let mut at = call.acting()?;
    let acting = at.session()?.clone();
    let target = at
        .db
        .sessions
        .get(&id)
        .filter(|t| t.user_id == acting.user_id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    if let Some(max) = call.state.settings.reverification_minutes {
        // The factor the level asks for; a user without a second factor is
        // asked for the first (an assumption: Clerk's fallback is not
        // documented).
        let level = call.state.settings.reverification_level;
        let has_mfa = at.db.users.get(&acting.user_id).is_some_and(|u| u.mfa);
        let verified_at = match level {
            crate::ReverificationLevel::SecondFactor if has_mfa => acting.second_factor_at,
            _ => Some(acting.first_factor_at),
        };
        let fresh = verified_at.is_some_and(|at| (call.state.clock.now_ms() - at) / 60_000 <= max);
        if !fresh {
            let mut e = ApiError::new(
                StatusCode::FORBIDDEN,
                "session_reverification_required",
                "Additional verification required",
                "You need to provide additional verification to perform this operation",
            );
            e.meta.insert(
                "session_verification".into(),
                json!({"level": level.as_str(), "after_minutes": max}),
            );
            return Err(e);
        }
    }
    if !target.status.is_signed_in() {
        return Err(ApiError::invalid_action("revoke", &id));
    }
    at.db
        .set_status(&id, SessionStatus::Revoked, call.state.clock.now_ms());
    let s = at
        .db
        .sessions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    let response = at.render().session(&s);
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, None))
}

/// `GET /v1/organizations/{id}/memberships`: members and roles, for members
/// holding `org:sys_memberships:read` (Clerk's system permission).
pub(crate) async fn org_memberships(call: Call, Path(org): Path<String>) -> ApiResult<Response> {
    let mut at = call.acting()?;
    let user_id = at.session()?.user_id.clone();
    let m = at
        .db
        .membership(&user_id, &org)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Organization", &org))?;
    let allowed = at.db.role(&m.role).is_some_and(|r| {
        r.permissions
            .iter()
            .any(|p| p == "org:sys_memberships:read")
    });
    if !allowed {
        return Err(ApiError::authorization_invalid());
    }
    let r = at.render();
    let data: Vec<Value> = at
        .db
        .memberships
        .iter()
        .filter(|x| x.org_id == m.org_id)
        .filter_map(|x| r.membership(x, true))
        .collect();
    let total = data.len();
    let response = json!({"data": data, "total_count": total});
    Ok(reply(at.envelope(response), None))
}

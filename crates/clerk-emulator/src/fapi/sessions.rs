//! The sessions of the request's client: `GET
//! /v1/client/sessions/{id}`, `touch` (make it the client's active session,
//! set its organization), `end` (status `ended`, stays listed) and `remove`
//! (status `removed`, unlisted: how clerk-js signs one account out).
//!
//! A session not listed on this client is 404 `resource_not_found`; one
//! listed but no longer signed in is 401 `signed_out` for touch, 400
//! `invalid_action_for_session` for end/remove (Clerk's exact choice is
//! unconfirmed; `docs/DESIGN.md` lists it).

use axum::extract::Path;
use axum::response::Response;

use super::{Call, reply};
use crate::error::{ApiError, ApiResult};
use crate::model::SessionStatus;
use crate::store::Db;

/// `GET /v1/client/sessions/{id}` (also as `POST`, which clerk-js's
/// `_method` handling can produce).
pub(crate) async fn get_session(call: Call, Path(id): Path<String>) -> ApiResult<Response> {
    let mut at = call.session(&id)?;
    call.state.ensure_cached_token(&mut at.db, &id);
    let s = at
        .db
        .sessions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    let response = at.render().session(&s);
    Ok(reply(at.envelope(response), None))
}

/// Resolves an organization parameter: absent → keep `current`, empty →
/// personal account, otherwise an org id or slug the user belongs to.
pub(super) fn resolve_org(
    db: &Db,
    user_id: &str,
    param: Option<&str>,
    current: Option<String>,
    name: &str,
) -> ApiResult<Option<String>> {
    match param {
        None => Ok(current),
        Some("") => Ok(None),
        Some(org) => db
            .membership(user_id, org)
            .map(|m| Some(m.org_id.clone()))
            .ok_or_else(|| ApiError::not_found("Organization", org).with_meta("param_name", name)),
    }
}

/// `POST /v1/client/sessions/{id}/touch`: make it the client's active
/// session and set its active organization (`intent` is `focus`,
/// `select_session` or `select_org`, as clerk-js sends it).
pub(crate) async fn touch_session(call: Call, Path(id): Path<String>) -> ApiResult<Response> {
    let mut at = call.session(&id)?;
    let s = at.session()?.clone();
    if !s.status.is_signed_in() {
        return Err(ApiError::signed_out());
    }
    match call.param("intent") {
        None | Some("") | Some("focus") | Some("select_session") | Some("select_org") => {}
        Some(_) => {
            return Err(ApiError::param_invalid(
                "intent",
                "intent must be one of focus, select_session, select_org",
            ));
        }
    }
    let org = resolve_org(
        &at.db,
        &s.user_id,
        call.param("active_organization_id"),
        s.last_active_org_id.clone(),
        "active_organization_id",
    )?;
    let now = call.state.clock.now_ms();
    if let Some(sess) = at.db.sessions.get_mut(&id) {
        if sess.last_active_org_id != org {
            // The cached `last_active_token` names the old organization.
            sess.token_cache = None;
        }
        // Choosing an organization is the `choose-organization` task done
        // (clerk-js `setActive({ organization })` on a pending session).
        if org.is_some()
            && let Some(tasks) = sess.tasks.as_mut()
        {
            tasks.retain(|t| t != "choose-organization");
            if tasks.is_empty() {
                sess.tasks = None;
                sess.status = SessionStatus::Active;
                sess.token_cache = None;
            }
        }
        sess.last_active_org_id = org;
        sess.last_active_at = now;
        sess.updated_at = now;
    }
    let cid = at.client_id.clone();
    if let Some(c) = at.db.clients.get_mut(&cid) {
        c.last_active_session_id = Some(id.clone());
        c.updated_at = now;
    }
    call.state.ensure_cached_token(&mut at.db, &id);
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

/// Moves a signed-in session of this client to `status`.
fn change_session(
    call: &Call,
    id: &str,
    status: SessionStatus,
    action: &str,
) -> ApiResult<Response> {
    let mut at = call.session(id)?;
    if !at.session()?.status.is_signed_in() {
        return Err(ApiError::invalid_action(action, id));
    }
    at.db.set_status(id, status, call.state.clock.now_ms());
    let s = at
        .db
        .sessions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(id))?;
    let response = at.render().session(&s);
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, None))
}

/// `POST /v1/client/sessions/{id}/end`: status `ended`, stays listed.
pub(crate) async fn end_session(call: Call, Path(id): Path<String>) -> ApiResult<Response> {
    change_session(&call, &id, SessionStatus::Ended, "end")
}

/// `POST /v1/client/sessions/{id}/remove`: status `removed`, unlisted.
pub(crate) async fn remove_session(call: Call, Path(id): Path<String>) -> ApiResult<Response> {
    change_session(&call, &id, SessionStatus::Removed, "remove")
}

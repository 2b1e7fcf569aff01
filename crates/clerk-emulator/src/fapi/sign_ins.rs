//! Sign-ins: `POST /v1/client/sign_ins` (ticket, OAuth, identifier +
//! password), `GET /v1/client/sign_ins/{id}` (with `rotating_token_nonce`:
//! the end of an OAuth flow) and the factor attempts.
//!
//! A completed sign-in creates a session on the request's client, makes it
//! the client's last active session and rotates the client credential,
//! which goes back in `Authorization` (native SDKs store it from there).

use axum::http::StatusCode;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::hosted::check_redirect;
use super::{Call, PROVIDERS, Scope, invalid_nonce, reply};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::model::{ExternalStatus, SignIn, User};
use crate::state::{Inner, LIMIT_ATTEMPT_FACTOR, LIMIT_CREATE_SIGN_IN};
use crate::store::{Db, NewSession};

/// Single-session mode allows one signed-in session per client
/// (`session_exists`), and a user already signed in on this client is not
/// signed in twice (`identifier_already_signed_in`, naming that session).
pub(super) fn sign_in_guard(db: &Db, client_id: &str, user_id: &str) -> ApiResult<()> {
    let signed_in = db.signed_in_on_client(client_id);
    if let Some(s) = signed_in.iter().find(|s| s.user_id == user_id) {
        return Err(ApiError::identifier_already_signed_in(&s.id));
    }
    if db.single_session_mode && !signed_in.is_empty() {
        return Err(ApiError::session_exists());
    }
    Ok(())
}

/// Creates the session of a completed sign-in and rotates the credential.
/// The session is `pending` while the user has session tasks to do.
pub(super) fn complete_sign_in(
    at: &mut Scope<'_>,
    user_id: &str,
    strategy: &str,
    second_factor_at: Option<i64>,
) -> String {
    let state = &at.call.state;
    let now = state.clock.now_ms();
    let cid = at.client_id.clone();
    let tasks = state.tasks_for(&at.db, user_id);
    let sid = at.db.create_session(NewSession {
        client_id: &cid,
        user_id,
        now,
        user_agent: at.call.ctx.user_agent.clone(),
        ip_address: Some(at.call.ctx.ip.clone()),
        actor: None,
        org_id: None,
        lifetimes: &state.settings.lifetimes,
        second_factor_at,
        tasks,
    });
    if let Some(c) = at.db.clients.get_mut(&cid) {
        c.last_active_session_id = Some(sid.clone());
        c.last_authentication_strategy = Some(strategy.to_owned());
        c.sign_in_id = None;
        c.sign_up_id = None;
    }
    at.db.rotate_client(&cid, now);
    sid
}

fn new_sign_in(state: &Inner, cid: &str, strategy: Option<&str>) -> SignIn {
    let now = state.clock.now_ms();
    SignIn {
        id: new_id("sia"),
        client_id: cid.to_owned(),
        status: "needs_identifier".to_owned(),
        strategy: strategy.map(str::to_owned),
        identifier: None,
        user_id: None,
        redirect_url: None,
        external_status: None,
        external_error: None,
        transfer_profile: None,
        nonce: None,
        first_factor_verified: false,
        created_session_id: None,
        abandon_at: now + state.settings.lifetimes.sign_in_ms,
        created_at: now,
    }
}

/// What a sign-in that verified its first factor still needs, if anything:
/// Client Trust (a new client, when the instance has it on), then a second
/// factor (the user has one). Clerk's order between the two is unconfirmed.
fn still_needs(at: &Scope<'_>, user_id: &str) -> Option<&'static str> {
    if at.call.state.settings.client_trust {
        return Some("needs_client_trust");
    }
    let mfa = at.db.users.get(user_id).is_some_and(|u| u.mfa);
    mfa.then_some("needs_second_factor")
}

fn ticket_error(code: &'static str, message: &str, long: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message, long)
}

/// `POST /v1/client/sign_ins`: ticket, OAuth redirect, or identifier
/// (+ password).
pub(crate) async fn create_sign_in(call: Call) -> ApiResult<Response> {
    call.rate(LIMIT_CREATE_SIGN_IN)?;
    let strategy = call
        .param("strategy")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    match strategy.as_deref() {
        Some("ticket") => sign_in_with_ticket(&call),
        Some(s) if s.starts_with("oauth_") => sign_in_with_oauth(&call, s),
        None | Some("password") => sign_in_with_identifier(&call),
        Some(other) => Err(ApiError::param_invalid(
            "strategy",
            format!("{other} is not a supported sign-in strategy"),
        )),
    }
}

/// `strategy=ticket`: a sign-in token minted through the Backend API,
/// single use, with its own lifetime (Clerk docs, "createSignInToken()").
fn sign_in_with_ticket(call: &Call) -> ApiResult<Response> {
    let ticket = call.required("ticket")?.to_owned();
    let now = call.state.clock.now_ms();
    let db = call.db();
    let tok = db
        .sign_in_tokens
        .values()
        .find(|t| bool::from(t.token.as_bytes().ct_eq(ticket.as_bytes())))
        .cloned()
        .ok_or_else(|| {
            ticket_error(
                "ticket_invalid_code",
                "Invalid ticket",
                "The provided ticket is invalid",
            )
        })?;
    match tok.status.as_str() {
        "accepted" => {
            return Err(ticket_error(
                "sign_in_token_already_used_code",
                "Sign in token already used",
                "This sign in token has already been used",
            ));
        }
        "revoked" => {
            return Err(ticket_error(
                "sign_in_token_revoked_code",
                "Sign in token revoked",
                "This sign in token has been revoked",
            ));
        }
        _ => {}
    }
    if now >= tok.expires_at {
        return Err(ticket_error(
            "ticket_expired_code",
            "Ticket expired",
            "The provided ticket has expired",
        ));
    }
    let mut at = call.client_or_new_locked(db);
    // Refuse before consuming the ticket, so it stays usable.
    sign_in_guard(&at.db, &at.client_id, &tok.user_id).inspect_err(|_| at.persist())?;
    if let Some(t) = at.db.sign_in_tokens.get_mut(&tok.id) {
        t.status = "accepted".to_owned();
        t.updated_at = now;
    }
    let mut si = new_sign_in(&call.state, &at.client_id, Some("ticket"));
    si.user_id = Some(tok.user_id.clone());
    si.identifier = at.db.users.get(&tok.user_id).map(|u| u.email.clone());
    si.first_factor_verified = true;
    if let Some(status) = still_needs(&at, &tok.user_id) {
        // The ticket is used up; the sign-in waits for what it still needs.
        si.status = status.to_owned();
        if let Some(c) = at.db.clients.get_mut(&at.client_id) {
            c.sign_in_id = Some(si.id.clone());
        }
    } else {
        let sid = complete_sign_in(&mut at, &tok.user_id, "ticket", None);
        si.status = "complete".to_owned();
        si.created_session_id = Some(sid);
    }
    let response = at.render().sign_in(&si);
    at.db.sign_ins.insert(si.id.clone(), si);
    let cred = at.credential();
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

/// `strategy=oauth_<provider>`: the sign-in waits at `needs_identifier`
/// with the provider's URL in `first_factor_verification`
/// (`external_verification_redirect_url`); the fake provider's page
/// finishes it and sends the browser to `redirect_url` with a nonce.
fn sign_in_with_oauth(call: &Call, strategy: &str) -> ApiResult<Response> {
    let provider = &strategy["oauth_".len()..];
    if !PROVIDERS.iter().any(|(p, _)| *p == provider) {
        return Err(ApiError::param_invalid(
            "strategy",
            format!("{strategy} is not enabled for this instance"),
        ));
    }
    let redirect_url = call.required("redirect_url")?.to_owned();
    check_redirect(&call.state, &redirect_url)?;
    let mut at = call.client_or_new();
    let mut si = new_sign_in(&call.state, &at.client_id, Some(strategy));
    si.redirect_url = Some(redirect_url);
    si.external_status = Some(ExternalStatus::Unverified);
    let response = at.render().sign_in(&si);
    if let Some(c) = at.db.clients.get_mut(&at.client_id) {
        c.sign_in_id = Some(si.id.clone());
    }
    at.db.sign_ins.insert(si.id.clone(), si);
    let cred = at.new_credential();
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

/// An identifier (and, in one call, its password); without the password
/// the sign-in waits at `needs_first_factor`.
fn sign_in_with_identifier(call: &Call) -> ApiResult<Response> {
    let identifier = call.required("identifier")?.to_owned();
    let db = call.db();
    let user = db.user_by_identifier(&identifier).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_identifier_not_found",
            "Couldn't find your account.",
            "Couldn't find your account.",
        )
        .with_meta("param_name", "identifier")
    })?;
    let mut at = call.client_or_new_locked(db);
    let mut si = new_sign_in(&call.state, &at.client_id, Some("password"));
    si.identifier = Some(identifier);
    si.user_id = Some(user.id.clone());
    si.status = "needs_first_factor".to_owned();
    let mut cred = at.new_credential();
    if let Some(pw) = call.param("password") {
        check_password(&user, pw)?;
        sign_in_guard(&at.db, &at.client_id, &user.id)?;
        si.first_factor_verified = true;
        if user.mfa {
            si.status = "needs_second_factor".to_owned();
            if let Some(c) = at.db.clients.get_mut(&at.client_id) {
                c.sign_in_id = Some(si.id.clone());
            }
        } else {
            let sid = complete_sign_in(&mut at, &user.id, "password", None);
            si.status = "complete".to_owned();
            si.created_session_id = Some(sid);
            cred = at.credential();
        }
    } else if let Some(c) = at.db.clients.get_mut(&at.client_id) {
        c.sign_in_id = Some(si.id.clone());
    }
    let response = at.render().sign_in(&si);
    at.db.sign_ins.insert(si.id.clone(), si);
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

fn check_password(user: &User, given: &str) -> ApiResult<()> {
    let ok = user
        .password
        .as_deref()
        .is_some_and(|p| bool::from(p.as_bytes().ct_eq(given.as_bytes())));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_password_incorrect",
            "Password is incorrect. Try again, or use another method.",
            "Password is incorrect. Try again, or use another method.",
        )
        .with_meta("param_name", "password"))
    }
}

/// The current client and its sign-in `id` (404 for another client's).
fn own_sign_in<'a>(call: &'a Call, id: &str) -> ApiResult<(Scope<'a>, SignIn)> {
    let at = call.client()?;
    let si = at
        .db
        .sign_ins
        .get(id)
        .filter(|s| s.client_id == at.client_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Sign in", id))?;
    Ok((at, si))
}

/// `GET /v1/client/sign_ins/{id}`; with `rotating_token_nonce` it finishes
/// an OAuth sign-in on the client that started it (clerk-expo `useSSO`).
pub(crate) async fn get_sign_in(
    call: Call,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let (mut at, mut si) = own_sign_in(&call, &id)?;
    let mut cred = None;
    if let Some(nonce) = call.param("rotating_token_nonce") {
        let now = call.state.clock.now_ms();
        let n = si.nonce.clone().ok_or_else(|| invalid_nonce("invalid"))?;
        if !bool::from(n.value.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(invalid_nonce("invalid"));
        }
        if n.used {
            return Err(invalid_nonce("already used"));
        }
        if now >= n.expires_at {
            return Err(invalid_nonce("expired"));
        }
        if let Some(n) = si.nonce.as_mut() {
            n.used = true;
        }
        if si.external_status == Some(ExternalStatus::Verified)
            && let Some(uid) = si.user_id.clone()
        {
            at.db.sign_ins.insert(si.id.clone(), si.clone());
            sign_in_guard(&at.db, &at.client_id, &uid).inspect_err(|_| at.persist())?;
            si.first_factor_verified = true;
            if let Some(status) = still_needs(&at, &uid) {
                si.status = status.to_owned();
            } else {
                let strategy = si.strategy.clone().unwrap_or_default();
                let sid = complete_sign_in(&mut at, &uid, &strategy, None);
                si.status = "complete".to_owned();
                si.created_session_id = Some(sid);
                cred = at.credential();
            }
        }
        at.db.sign_ins.insert(si.id.clone(), si.clone());
        at.persist();
    }
    let response = at.render().sign_in(&si);
    let body = at.envelope(response);
    Ok(reply(body, cred))
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor` (password).
pub(crate) async fn attempt_first_factor(
    call: Call,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Response> {
    call.rate(LIMIT_ATTEMPT_FACTOR)?;
    let (mut at, mut si) = own_sign_in(&call, &id)?;
    let strategy = call.required("strategy")?;
    if strategy != "password" {
        return Err(ApiError::param_invalid(
            "strategy",
            "Only the password strategy is available on this instance",
        ));
    }
    if si.status != "needs_first_factor" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "verification_already_verified",
            "Already verified",
            "This sign-in has already been verified",
        ));
    }
    let user = si
        .user_id
        .as_ref()
        .and_then(|u| at.db.users.get(u))
        .cloned()
        .ok_or_else(|| ApiError::not_found("User", "unknown"))?;
    check_password(&user, call.required("password")?)?;
    sign_in_guard(&at.db, &at.client_id, &user.id)?;
    si.first_factor_verified = true;
    let mut cred = None;
    if user.mfa {
        si.status = "needs_second_factor".to_owned();
    } else {
        let sid = complete_sign_in(&mut at, &user.id, "password", None);
        si.status = "complete".to_owned();
        si.created_session_id = Some(sid);
        cred = at.credential();
    }
    let response = at.render().sign_in(&si);
    at.db.sign_ins.insert(si.id.clone(), si);
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor` (`strategy=totp`,
/// `code=424242`, Clerk's test code): finishes a sign-in that
/// `needs_second_factor`; anything else is refused (rate-limited).
pub(crate) async fn attempt_second_factor(
    call: Call,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Response> {
    call.rate(LIMIT_ATTEMPT_FACTOR)?;
    let (mut at, mut si) = own_sign_in(&call, &id)?;
    let uid = si.user_id.clone().unwrap_or_default();
    let has_mfa = at.db.users.get(&uid).is_some_and(|u| u.mfa);
    if si.status != "needs_second_factor" || !has_mfa {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "verification_strategy_not_valid",
            "Invalid verification strategy",
            "No second factor is set up for this account",
        ));
    }
    if call.required("code")? != "424242" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_code_incorrect",
            "Incorrect code",
            "The verification code is incorrect",
        )
        .with_meta("param_name", "code"));
    }
    sign_in_guard(&at.db, &at.client_id, &uid)?;
    let now = call.state.clock.now_ms();
    let strategy = si.strategy.clone().unwrap_or_default();
    let sid = complete_sign_in(&mut at, &uid, &strategy, Some(now));
    si.status = "complete".to_owned();
    si.created_session_id = Some(sid);
    let response = at.render().sign_in(&si);
    at.db.sign_ins.insert(si.id.clone(), si);
    let cred = at.credential();
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

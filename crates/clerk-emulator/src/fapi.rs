//! Frontend API handlers (native mode).
//!
//! Shapes follow `clerk-fapi.md` §2–§5 and the FAPI spec: `{response,
//! client}` envelopes for client, sign-in and session calls, bare objects
//! for the environment and tokens, bare arrays for `/me/sessions*`. A
//! created or rotated client credential goes back in the `Authorization`
//! response header.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::redirect_allowed;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::ids::{new_id, random_token};
use crate::model::*;
use crate::render::Render;
use crate::state::{
    AppState, Inner, LIMIT_ATTEMPT_FACTOR, LIMIT_CREATE_SIGN_IN, LIMIT_CREATE_SIGN_UP,
    LIMIT_SIGN_UP_VERIFY,
};
use crate::store::{Db, NewSession, NewUser};

/// OAuth providers the emulator's fake provider pages serve.
pub(crate) const PROVIDERS: &[(&str, &str)] = &[("google", "Google"), ("github", "GitHub")];

/// The client identified by the request's credential, if any.
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

/// The current client, or a new one (whose credential must be returned).
fn ensure_client(state: &Inner, db: &mut Db, ctx: &Ctx) -> (String, bool) {
    match current_client(state, db, ctx) {
        Some(id) => (id, false),
        None => (db.create_client(state.clock.now_ms()), true),
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

/// Renders `{response, client}` with `last_active_token`s filled in.
fn envelope(state: &Inner, db: &mut Db, client_id: Option<&str>, response: Value) -> Value {
    if let Some(cid) = client_id {
        for sid in db.client_session_ids(cid) {
            state.ensure_cached_token(db, &sid);
        }
    }
    let r = Render {
        db,
        base: &state.base_url,
        now: state.clock.now_ms(),
    };
    let client = r.client(client_id.and_then(|id| db.clients.get(id)));
    json!({ "response": response, "client": client })
}

/// `{response: Client, client: Client}`: the answer of the calls whose
/// resource is the client itself.
fn client_envelope(state: &Inner, db: &mut Db, client_id: Option<&str>) -> Value {
    let mut body = envelope(state, db, client_id, Value::Null);
    body["response"] = body["client"].clone();
    body
}

/// A JSON response, with a credential in `Authorization` when given.
fn reply(body: Value, credential: Option<String>) -> Response {
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

// ---------------------------------------------------------------- environment

pub(crate) async fn environment(State(state): State<AppState>) -> Json<Value> {
    let db = state.db();
    Json(crate::environment::environment(&state, &db))
}

pub(crate) async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.keys.jwks())
}

// ---------------------------------------------------------------- client

/// `GET /v1/client`, and `POST /v1/client` with `_method=GET`, which is how
/// hosted auth is redeemed (`rotating_token_nonce` + `code_verifier`).
pub(crate) async fn get_client(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    if ctx.param("rotating_token_nonce").is_some() {
        return redeem_hosted_auth(&state, &ctx);
    }
    let mut db = state.db();
    let client = current_client(&state, &db, &ctx);
    let body = client_envelope(&state, &mut db, client.as_deref());
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

/// `DELETE /v1/client`: ends every session and the client itself.
pub(crate) async fn delete_client(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let Some(cid) = current_client(&state, &db, &ctx) else {
        return Err(ApiError::client_not_found());
    };
    let now = state.clock.now_ms();
    let ids: Vec<String> = db
        .signed_in_on_client(&cid)
        .iter()
        .map(|s| s.id.clone())
        .collect();
    for sid in ids {
        db.set_status(&sid, SessionStatus::Ended, now);
    }
    if let Some(c) = db.clients.get_mut(&cid) {
        c.ended = true;
        c.updated_at = now;
    }
    state.persist(&db);
    // An empty Authorization header tells native SDKs to clear the credential.
    Ok(reply(
        json!({"response": null, "client": null}),
        Some(String::new()),
    ))
}

/// `DELETE /v1/client/sessions`: signs every session out, keeps the client.
pub(crate) async fn delete_client_sessions(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let Some(cid) = current_client(&state, &db, &ctx) else {
        return Err(ApiError::client_not_found());
    };
    let now = state.clock.now_ms();
    let ids: Vec<String> = db
        .signed_in_on_client(&cid)
        .iter()
        .map(|s| s.id.clone())
        .collect();
    for sid in ids {
        db.set_status(&sid, SessionStatus::Removed, now);
    }
    if let Some(c) = db.clients.get_mut(&cid) {
        c.last_active_session_id = None;
        c.sign_in_id = None;
        c.sign_up_id = None;
    }
    let body = client_envelope(&state, &mut db, Some(&cid));
    state.persist(&db);
    Ok(reply(body, None))
}

// ---------------------------------------------------------------- hosted auth

/// `POST /v1/client/hosted_auth`: starts a PKCE-bound browser sign-in.
pub(crate) async fn hosted_auth(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    let redirect_url = ctx.required("redirect_url")?.to_owned();
    let challenge = ctx.required("code_challenge")?.to_owned();
    let st = ctx.required("state")?.to_owned();
    check_redirect(&state, &redirect_url)?;
    let b64url = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    if challenge.len() != 43 || !b64url(&challenge) {
        return Err(ApiError::param_format_invalid(
            "code_challenge",
            "code_challenge must be the base64url (no padding) SHA-256 of the code verifier (S256)",
        ));
    }
    if st.len() > 512 {
        return Err(ApiError::param_format_invalid(
            "state",
            "state must be at most 512 characters",
        ));
    }
    if let Some(m) = ctx.param("code_challenge_method")
        && m != "S256"
    {
        return Err(ApiError::param_invalid(
            "code_challenge_method",
            "Only S256 is supported",
        ));
    }
    let mode = match ctx.param("mode") {
        None | Some("") | Some("sign-in") => "sign-in",
        Some("sign-up") => "sign-up",
        Some(_) => {
            return Err(ApiError::param_invalid(
                "mode",
                "mode must be sign-in or sign-up",
            ));
        }
    };
    let mut db = state.db();
    let (cid, created) = ensure_client(&state, &mut db, &ctx);
    let now = state.clock.now_ms();
    let id = new_id("hauth");
    db.hosted.insert(
        id.clone(),
        HostedAuth {
            id: id.clone(),
            client_id: cid.clone(),
            code_challenge: challenge,
            state: st,
            redirect_url,
            mode: mode.to_owned(),
            expires_at: now + state.settings.lifetimes.hosted_auth_ms,
            session_id: new_id("sess"),
            user_id: None,
            nonce: None,
            failures: 0,
            created_at: now,
        },
    );
    let url = format!("{}/hosted/sign-in?attempt={id}", state.base_url);
    let body = envelope(
        &state,
        &mut db,
        Some(&cid),
        json!({"object": "hosted_auth", "url": url}),
    );
    let cred = if created {
        credential_for(&state, &db, &cid)
    } else {
        None
    };
    state.persist(&db);
    Ok(reply(body, cred))
}

fn check_redirect(state: &Inner, url: &str) -> ApiResult<()> {
    if redirect_allowed(
        &state.settings.redirect_allowlist,
        state.settings.allow_loopback_redirects,
        url,
    ) {
        Ok(())
    } else {
        Err(ApiError::param_invalid(
            "redirect_url",
            "The redirect_url is not in the instance's allowlist for mobile SSO redirect URLs",
        ))
    }
}

fn invalid_nonce(why: &str) -> ApiError {
    ApiError::param_invalid(
        "rotating_token_nonce",
        format!("The rotating_token_nonce is {why}"),
    )
}

/// S256: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2).
pub(crate) fn s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn redeem_hosted_auth(state: &Inner, ctx: &Ctx) -> ApiResult<Response> {
    let nonce = ctx.required("rotating_token_nonce")?.to_owned();
    let mut db = state.db();
    let Some(cid) = current_client(state, &db, ctx) else {
        return Err(ApiError::client_not_found());
    };
    let now = state.clock.now_ms();
    let attempt_id = db
        .hosted
        .values()
        .find(|h| {
            h.nonce
                .as_ref()
                .is_some_and(|n| bool::from(n.value.as_bytes().ct_eq(nonce.as_bytes())))
        })
        .map(|h| h.id.clone())
        .ok_or_else(|| invalid_nonce("invalid"))?;
    let attempt = db
        .hosted
        .get(&attempt_id)
        .cloned()
        .ok_or_else(|| invalid_nonce("invalid"))?;
    let n = attempt
        .nonce
        .clone()
        .ok_or_else(|| invalid_nonce("invalid"))?;
    if n.used {
        return Err(invalid_nonce("already used"));
    }
    if now >= n.expires_at {
        return Err(invalid_nonce("expired"));
    }
    // A callback captured by another client is useless there, and does not
    // burn the legitimate client's attempt (SECURITY.md T1).
    if attempt.client_id != cid {
        return Err(invalid_nonce("not valid for this client"));
    }
    let verifier = ctx.required("code_verifier")?;
    let charset_ok = verifier
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c));
    let ok = (43..=128).contains(&verifier.len())
        && charset_ok
        && bool::from(
            s256(verifier)
                .as_bytes()
                .ct_eq(attempt.code_challenge.as_bytes()),
        );
    if !ok {
        if let Some(h) = db.hosted.get_mut(&attempt_id) {
            h.failures += 1;
            if h.failures >= 3
                && let Some(n) = h.nonce.as_mut()
            {
                n.used = true;
            }
        }
        state.persist(&db);
        return Err(ApiError::param_invalid(
            "code_verifier",
            "The code_verifier does not match the code_challenge",
        ));
    }
    let user_id = attempt
        .user_id
        .clone()
        .ok_or_else(|| invalid_nonce("invalid"))?;
    if let Some(h) = db.hosted.get_mut(&attempt_id)
        && let Some(n) = h.nonce.as_mut()
    {
        n.used = true;
    }
    sign_in_guard(&db, &cid, &user_id).inspect_err(|_| state.persist(&db))?;
    db.insert_session(
        attempt.session_id.clone(),
        NewSession {
            client_id: &cid,
            user_id: &user_id,
            now,
            user_agent: ctx.user_agent.clone(),
            ip_address: Some(ctx.ip.clone()),
            actor: None,
            org_id: None,
            lifetimes: &state.settings.lifetimes,
        },
    );
    if let Some(c) = db.clients.get_mut(&cid) {
        c.last_active_session_id = Some(attempt.session_id.clone());
        c.last_authentication_strategy = Some("hosted_auth".to_owned());
    }
    db.rotate_client(&cid, now);
    let cred = credential_for(state, &db, &cid);
    let body = client_envelope(state, &mut db, Some(&cid));
    state.persist(&db);
    Ok(reply(body, cred))
}

/// Single-session mode allows one signed-in session per client, and a user
/// already signed in on this client is not signed in twice.
fn sign_in_guard(db: &Db, client_id: &str, user_id: &str) -> ApiResult<()> {
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
fn complete_sign_in(
    state: &Inner,
    db: &mut Db,
    ctx: &Ctx,
    cid: &str,
    user_id: &str,
    strategy: &str,
) -> String {
    let now = state.clock.now_ms();
    let sid = db.create_session(NewSession {
        client_id: cid,
        user_id,
        now,
        user_agent: ctx.user_agent.clone(),
        ip_address: Some(ctx.ip.clone()),
        actor: None,
        org_id: None,
        lifetimes: &state.settings.lifetimes,
    });
    if let Some(c) = db.clients.get_mut(cid) {
        c.last_active_session_id = Some(sid.clone());
        c.last_authentication_strategy = Some(strategy.to_owned());
        c.sign_in_id = None;
        c.sign_up_id = None;
    }
    db.rotate_client(cid, now);
    sid
}

// ---------------------------------------------------------------- sign-ins

fn rate(state: &Inner, ctx: &Ctx, limit: (&'static str, usize, i64)) -> ApiResult<()> {
    state
        .check_rate(&ctx.ip, limit)
        .map_err(ApiError::too_many_requests)
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

/// `POST /v1/client/sign_ins`: ticket, OAuth redirect, or identifier
/// (+ password).
pub(crate) async fn create_sign_in(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    rate(&state, &ctx, LIMIT_CREATE_SIGN_IN)?;
    let strategy = ctx
        .param("strategy")
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let mut db = state.db();
    let now = state.clock.now_ms();
    match strategy.as_deref() {
        Some("ticket") => {
            let ticket = ctx.required("ticket")?.to_owned();
            let tok = db
                .sign_in_tokens
                .values()
                .find(|t| bool::from(t.token.as_bytes().ct_eq(ticket.as_bytes())))
                .cloned()
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "ticket_invalid_code",
                        "Invalid ticket",
                        "The provided ticket is invalid",
                    )
                })?;
            match tok.status.as_str() {
                "accepted" => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "sign_in_token_already_used_code",
                        "Sign in token already used",
                        "This sign in token has already been used",
                    ));
                }
                "revoked" => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "sign_in_token_revoked_code",
                        "Sign in token revoked",
                        "This sign in token has been revoked",
                    ));
                }
                _ => {}
            }
            if now >= tok.expires_at {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ticket_expired_code",
                    "Ticket expired",
                    "The provided ticket has expired",
                ));
            }
            let (cid, _) = ensure_client(&state, &mut db, &ctx);
            // Refuse before consuming the ticket, so it stays usable.
            sign_in_guard(&db, &cid, &tok.user_id).inspect_err(|_| state.persist(&db))?;
            if let Some(t) = db.sign_in_tokens.get_mut(&tok.id) {
                t.status = "accepted".to_owned();
                t.updated_at = now;
            }
            let mut si = new_sign_in(&state, &cid, Some("ticket"));
            si.user_id = Some(tok.user_id.clone());
            si.identifier = db.users.get(&tok.user_id).map(|u| u.email.clone());
            si.first_factor_verified = true;
            let sid = complete_sign_in(&state, &mut db, &ctx, &cid, &tok.user_id, "ticket");
            si.status = "complete".to_owned();
            si.created_session_id = Some(sid);
            let response = render(&state, &db).sign_in(&si);
            db.sign_ins.insert(si.id.clone(), si);
            let cred = credential_for(&state, &db, &cid);
            let body = envelope(&state, &mut db, Some(&cid), response);
            state.persist(&db);
            Ok(reply(body, cred))
        }
        Some(s) if s.starts_with("oauth_") => {
            let provider = &s["oauth_".len()..];
            if !PROVIDERS.iter().any(|(p, _)| *p == provider) {
                return Err(ApiError::param_invalid(
                    "strategy",
                    format!("{s} is not enabled for this instance"),
                ));
            }
            let redirect_url = ctx.required("redirect_url")?.to_owned();
            check_redirect(&state, &redirect_url)?;
            let (cid, created) = ensure_client(&state, &mut db, &ctx);
            let mut si = new_sign_in(&state, &cid, Some(s));
            si.redirect_url = Some(redirect_url);
            si.external_status = Some(ExternalStatus::Unverified);
            let response = render(&state, &db).sign_in(&si);
            if let Some(c) = db.clients.get_mut(&cid) {
                c.sign_in_id = Some(si.id.clone());
            }
            db.sign_ins.insert(si.id.clone(), si);
            let cred = if created {
                credential_for(&state, &db, &cid)
            } else {
                None
            };
            let body = envelope(&state, &mut db, Some(&cid), response);
            state.persist(&db);
            Ok(reply(body, cred))
        }
        None | Some("password") => {
            let identifier = ctx.required("identifier")?.to_owned();
            let user = db.user_by_identifier(&identifier).cloned().ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "form_identifier_not_found",
                    "Couldn't find your account.",
                    "Couldn't find your account.",
                )
                .with_meta("param_name", "identifier")
            })?;
            let (cid, created) = ensure_client(&state, &mut db, &ctx);
            let mut si = new_sign_in(&state, &cid, Some("password"));
            si.identifier = Some(identifier);
            si.user_id = Some(user.id.clone());
            si.status = "needs_first_factor".to_owned();
            let mut cred = if created {
                credential_for(&state, &db, &cid)
            } else {
                None
            };
            if let Some(pw) = ctx.param("password") {
                check_password(&user, pw)?;
                sign_in_guard(&db, &cid, &user.id)?;
                si.first_factor_verified = true;
                let sid = complete_sign_in(&state, &mut db, &ctx, &cid, &user.id, "password");
                si.status = "complete".to_owned();
                si.created_session_id = Some(sid);
                cred = credential_for(&state, &db, &cid);
            } else if let Some(c) = db.clients.get_mut(&cid) {
                c.sign_in_id = Some(si.id.clone());
            }
            let response = render(&state, &db).sign_in(&si);
            db.sign_ins.insert(si.id.clone(), si);
            let body = envelope(&state, &mut db, Some(&cid), response);
            state.persist(&db);
            Ok(reply(body, cred))
        }
        Some(other) => Err(ApiError::param_invalid(
            "strategy",
            format!("{other} is not a supported sign-in strategy"),
        )),
    }
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

fn own_sign_in(state: &Inner, db: &Db, ctx: &Ctx, id: &str) -> ApiResult<(String, SignIn)> {
    let cid = current_client(state, db, ctx).ok_or_else(ApiError::client_not_found)?;
    let si = db
        .sign_ins
        .get(id)
        .filter(|s| s.client_id == cid)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Sign in", id))?;
    Ok((cid, si))
}

/// `GET /v1/client/sign_ins/{id}`; with `rotating_token_nonce` it finishes
/// an OAuth sign-in on the client that started it.
pub(crate) async fn get_sign_in(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, mut si) = own_sign_in(&state, &db, &ctx, &id)?;
    let mut cred = None;
    if let Some(nonce) = ctx.param("rotating_token_nonce") {
        let now = state.clock.now_ms();
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
            db.sign_ins.insert(si.id.clone(), si.clone());
            sign_in_guard(&db, &cid, &uid).inspect_err(|_| state.persist(&db))?;
            let strategy = si.strategy.clone().unwrap_or_default();
            let sid = complete_sign_in(&state, &mut db, &ctx, &cid, &uid, &strategy);
            si.status = "complete".to_owned();
            si.first_factor_verified = true;
            si.created_session_id = Some(sid);
            cred = credential_for(&state, &db, &cid);
        }
        db.sign_ins.insert(si.id.clone(), si.clone());
        state.persist(&db);
    }
    let response = render(&state, &db).sign_in(&si);
    let body = envelope(&state, &mut db, Some(&cid), response);
    Ok(reply(body, cred))
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor` (password).
pub(crate) async fn attempt_first_factor(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    rate(&state, &ctx, LIMIT_ATTEMPT_FACTOR)?;
    let mut db = state.db();
    let (cid, mut si) = own_sign_in(&state, &db, &ctx, &id)?;
    let strategy = ctx.required("strategy")?;
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
        .and_then(|u| db.users.get(u))
        .cloned()
        .ok_or_else(|| ApiError::not_found("User", "unknown"))?;
    check_password(&user, ctx.required("password")?)?;
    sign_in_guard(&db, &cid, &user.id)?;
    let sid = complete_sign_in(&state, &mut db, &ctx, &cid, &user.id, "password");
    si.first_factor_verified = true;
    si.status = "complete".to_owned();
    si.created_session_id = Some(sid);
    let response = render(&state, &db).sign_in(&si);
    db.sign_ins.insert(si.id.clone(), si);
    let cred = credential_for(&state, &db, &cid);
    let body = envelope(&state, &mut db, Some(&cid), response);
    state.persist(&db);
    Ok(reply(body, cred))
}

/// `POST /v1/client/sign_ins/{id}/attempt_second_factor`: no second factor
/// is configured on emulated users, so every attempt fails (rate-limited).
pub(crate) async fn attempt_second_factor(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    rate(&state, &ctx, LIMIT_ATTEMPT_FACTOR)?;
    let db = state.db();
    own_sign_in(&state, &db, &ctx, &id)?;
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "verification_strategy_not_valid",
        "Invalid verification strategy",
        "No second factor is set up for this account",
    ))
}

// ---------------------------------------------------------------- sign-ups

/// `POST /v1/client/sign_ups`: `transfer=true` after an OAuth sign-in that
/// came back `transferable`, or email (+ password) with email-code
/// verification (the code is Clerk's test code `424242`).
pub(crate) async fn create_sign_up(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    rate(&state, &ctx, LIMIT_CREATE_SIGN_UP)?;
    let mut db = state.db();
    let now = state.clock.now_ms();
    let (cid, created) = ensure_client(&state, &mut db, &ctx);
    let mut su = SignUp {
        id: new_id("sua"),
        client_id: cid.clone(),
        status: "missing_requirements".to_owned(),
        email: None,
        first_name: ctx
            .param("first_name")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        last_name: ctx
            .param("last_name")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        password: ctx
            .param("password")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        email_verified: false,
        transfer_profile: None,
        created_session_id: None,
        created_user_id: None,
        abandon_at: now + state.settings.lifetimes.sign_in_ms,
        created_at: now,
    };
    let mut cred = if created {
        credential_for(&state, &db, &cid)
    } else {
        None
    };
    if matches!(ctx.param("transfer"), Some("true") | Some("1")) {
        let si = db
            .clients
            .get(&cid)
            .and_then(|c| c.sign_in_id.clone())
            .and_then(|id| db.sign_ins.get(&id).cloned())
            .filter(|si| si.external_status == Some(ExternalStatus::Transferable))
            .ok_or_else(|| {
                ApiError::param_invalid(
                    "transfer",
                    "There is no transferable sign-in on this client",
                )
            })?;
        let profile = si.transfer_profile.clone().ok_or_else(|| {
            ApiError::param_invalid(
                "transfer",
                "There is no transferable sign-in on this client",
            )
        })?;
        if db.single_session_mode && !db.signed_in_on_client(&cid).is_empty() {
            return Err(ApiError::session_exists());
        }
        let uid = db.add_user(NewUser {
            first_name: profile.first_name.clone(),
            last_name: profile.last_name.clone(),
            username: None,
            email: profile.email.clone(),
            password: None,
            avatar_color: None,
            now,
        });
        db.link_external(&uid, &profile.provider, now);
        su.email = Some(profile.email.clone());
        su.first_name = profile.first_name.clone();
        su.last_name = profile.last_name.clone();
        su.email_verified = true;
        su.transfer_profile = Some(profile);
        let sid = complete_sign_in(
            &state,
            &mut db,
            &ctx,
            &cid,
            &uid,
            &si.strategy.clone().unwrap_or_default(),
        );
        su.status = "complete".to_owned();
        su.created_user_id = Some(uid);
        su.created_session_id = Some(sid);
        cred = credential_for(&state, &db, &cid);
    } else {
        let email = ctx.required("email_address")?.to_owned();
        if !email.contains('@') || email.len() > 254 {
            return Err(ApiError::param_format_invalid(
                "email_address",
                "email_address must be a valid email address",
            ));
        }
        if db.user_by_email(&email).is_some() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
                "That email address is taken. Please try another.",
                "That email address is taken. Please try another.",
            )
            .with_meta("param_name", "email_address"));
        }
        su.email = Some(email);
        if let Some(c) = db.clients.get_mut(&cid) {
            c.sign_up_id = Some(su.id.clone());
        }
    }
    let response = render(&state, &db).sign_up(&su);
    db.sign_ups.insert(su.id.clone(), su);
    let body = envelope(&state, &mut db, Some(&cid), response);
    state.persist(&db);
    Ok(reply(body, cred))
}

/// `POST /v1/client/sign_ups/{id}/prepare_verification`: the emulator
/// sends no email; the code is always `424242`.
pub(crate) async fn prepare_sign_up_verification(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let cid = current_client(&state, &db, &ctx).ok_or_else(ApiError::client_not_found)?;
    let su = db
        .sign_ups
        .get(&id)
        .filter(|s| s.client_id == cid)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Sign up", &id))?;
    let response = render(&state, &db).sign_up(&su);
    let body = envelope(&state, &mut db, Some(&cid), response);
    Ok(reply(body, None))
}

/// `POST /v1/client/sign_ups/{id}/attempt_verification` (`code=424242`).
pub(crate) async fn attempt_sign_up_verification(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    rate(&state, &ctx, LIMIT_SIGN_UP_VERIFY)?;
    let mut db = state.db();
    let cid = current_client(&state, &db, &ctx).ok_or_else(ApiError::client_not_found)?;
    let mut su = db
        .sign_ups
        .get(&id)
        .filter(|s| s.client_id == cid)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Sign up", &id))?;
    let code = ctx.required("code")?;
    if code != "424242" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_code_incorrect",
            "Incorrect code",
            "The verification code is incorrect",
        )
        .with_meta("param_name", "code"));
    }
    if su.status == "complete" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "verification_already_verified",
            "Already verified",
            "This sign-up has already been verified",
        ));
    }
    let now = state.clock.now_ms();
    let email = su
        .email
        .clone()
        .ok_or_else(|| ApiError::param_missing("email_address"))?;
    if db.single_session_mode && !db.signed_in_on_client(&cid).is_empty() {
        return Err(ApiError::session_exists());
    }
    let uid = db.add_user(NewUser {
        first_name: su.first_name.clone(),
        last_name: su.last_name.clone(),
        username: None,
        email,
        password: su.password.clone(),
        avatar_color: None,
        now,
    });
    let sid = complete_sign_in(&state, &mut db, &ctx, &cid, &uid, "email_code");
    su.email_verified = true;
    su.status = "complete".to_owned();
    su.created_user_id = Some(uid);
    su.created_session_id = Some(sid);
    let response = render(&state, &db).sign_up(&su);
    db.sign_ups.insert(su.id.clone(), su);
    let cred = credential_for(&state, &db, &cid);
    let body = envelope(&state, &mut db, Some(&cid), response);
    state.persist(&db);
    Ok(reply(body, cred))
}

// ---------------------------------------------------------------- sessions

/// The session `id` if it is listed on the request's client.
fn client_session(state: &Inner, db: &Db, ctx: &Ctx, id: &str) -> ApiResult<(String, Session)> {
    let cid = current_client(state, db, ctx).ok_or_else(|| ApiError::session_not_found(id))?;
    if !db.client_session_ids(&cid).iter().any(|s| s == id) {
        return Err(ApiError::session_not_found(id));
    }
    let s = db
        .sessions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(id))?;
    Ok((cid, s))
}

pub(crate) async fn get_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, _) = client_session(&state, &db, &ctx, &id)?;
    state.ensure_cached_token(&mut db, &id);
    let s = db
        .sessions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    let response = render(&state, &db).session(&s);
    Ok(reply(envelope(&state, &mut db, Some(&cid), response), None))
}

/// Resolves an organization parameter: absent → keep `current`, empty →
/// personal account, otherwise an org id or slug the user belongs to.
fn resolve_org(
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
/// session and set its active organization.
pub(crate) async fn touch_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, s) = client_session(&state, &db, &ctx, &id)?;
    if !s.status.is_signed_in() {
        return Err(ApiError::signed_out());
    }
    match ctx.param("intent") {
        None | Some("") | Some("focus") | Some("select_session") | Some("select_org") => {}
        Some(_) => {
            return Err(ApiError::param_invalid(
                "intent",
                "intent must be one of focus, select_session, select_org",
            ));
        }
    }
    let org = resolve_org(
        &db,
        &s.user_id,
        ctx.param("active_organization_id"),
        s.last_active_org_id.clone(),
        "active_organization_id",
    )?;
    let now = state.clock.now_ms();
    if let Some(sess) = db.sessions.get_mut(&id) {
        if sess.last_active_org_id != org {
            sess.token_cache = None;
        }
        sess.last_active_org_id = org;
        sess.last_active_at = now;
        sess.updated_at = now;
    }
    if let Some(c) = db.clients.get_mut(&cid) {
        c.last_active_session_id = Some(id.clone());
        c.updated_at = now;
    }
    state.ensure_cached_token(&mut db, &id);
    let s = db
        .sessions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    let response = render(&state, &db).session(&s);
    let body = envelope(&state, &mut db, Some(&cid), response);
    state.persist(&db);
    Ok(reply(body, None))
}

/// `POST /v1/client/sessions/{id}/tokens`: a fresh session token (bare
/// `{"object":"token","jwt"}`).
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let claims = {
        let mut db = state.db();
        let (_, s) = client_session(&state, &db, &ctx, &id)?;
        if !s.status.is_signed_in() {
            return Err(ApiError::signed_out());
        }
        let org = resolve_org(
            &db,
            &s.user_id,
            ctx.param("organization_id"),
            s.last_active_org_id.clone(),
            "organization_id",
        )?;
        let (claims, _, _) = state.session_claims(&db, &s, org.as_deref(), ctx.origin.as_deref());
        if let Some(sess) = db.sessions.get_mut(&id) {
            sess.last_active_at = state.clock.now_ms();
        }
        claims
    };
    // Sign outside the lock: RS256 signing is the expensive part.
    let jwt = state.keys.sign(&claims).ok_or_else(ApiError::internal)?;
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

/// `POST /v1/client/sessions/{id}/tokens/{template}`: a JWT-template token
/// (template claims, no `sid`).
pub(crate) async fn create_template_token(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((id, template)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let claims = {
        let db = state.db();
        let (_, s) = client_session(&state, &db, &ctx, &id)?;
        if !s.status.is_signed_in() {
            return Err(ApiError::signed_out());
        }
        let t = db
            .templates
            .get(&template)
            .cloned()
            .ok_or_else(|| ApiError::not_found("JWT template", &template))?;
        crate::templates::claims(&state, &db, &s, &t, ctx.origin.as_deref())
    };
    let jwt = state.keys.sign(&claims).ok_or_else(ApiError::internal)?;
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

async fn change_session(
    state: &Inner,
    ctx: &Ctx,
    id: &str,
    status: SessionStatus,
    action: &str,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, s) = client_session(state, &db, ctx, id)?;
    if !s.status.is_signed_in() {
        return Err(ApiError::invalid_action(action, id));
    }
    db.set_status(id, status, state.clock.now_ms());
    let s = db
        .sessions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(id))?;
    let response = render(state, &db).session(&s);
    let body = envelope(state, &mut db, Some(&cid), response);
    state.persist(&db);
    Ok(reply(body, None))
}

/// `POST /v1/client/sessions/{id}/end`: status `ended`, stays listed.
pub(crate) async fn end_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    change_session(&state, &ctx, &id, SessionStatus::Ended, "end").await
}

/// `POST /v1/client/sessions/{id}/remove`: status `removed`, unlisted.
pub(crate) async fn remove_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    change_session(&state, &ctx, &id, SessionStatus::Removed, "remove").await
}

// ---------------------------------------------------------------- /me

/// The acting session for `/me/*`: `_clerk_session_id`, else the client's
/// last active session; it must be signed in on this client.
fn acting_session(state: &Inner, db: &Db, ctx: &Ctx) -> ApiResult<(String, Session)> {
    let cid = current_client(state, db, ctx).ok_or_else(ApiError::signed_out)?;
    let sid = match ctx.param("_clerk_session_id").filter(|s| !s.is_empty()) {
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
    Ok((cid, s))
}

pub(crate) async fn me(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, s) = acting_session(&state, &db, &ctx)?;
    let user = db
        .users
        .get(&s.user_id)
        .cloned()
        .ok_or_else(ApiError::signed_out)?;
    let response = render(&state, &db).user(&user);
    Ok(reply(envelope(&state, &mut db, Some(&cid), response), None))
}

/// `GET /v1/me/sessions/active`: every signed-in session of the user on
/// every client, most recently active first (bare array).
pub(crate) async fn me_active_sessions(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Json<Value>> {
    let mut db = state.db();
    let (_, s) = acting_session(&state, &db, &ctx)?;
    let mut ids: Vec<(i64, String)> = db
        .sessions
        .values()
        .filter(|x| x.user_id == s.user_id && x.status.is_signed_in())
        .map(|x| (x.last_active_at, x.id.clone()))
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    for (_, id) in &ids {
        state.ensure_cached_token(&mut db, id);
    }
    let r = render(&state, &db);
    Ok(Json(Value::Array(
        ids.iter()
            .filter_map(|(_, id)| db.sessions.get(id))
            .map(|x| r.active_session(x))
            .collect(),
    )))
}

/// `GET /v1/me/sessions`: all sessions of the user (bare array).
pub(crate) async fn me_sessions(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
) -> ApiResult<Json<Value>> {
    let db = state.db();
    let (_, s) = acting_session(&state, &db, &ctx)?;
    let mut all: Vec<&Session> = db
        .sessions
        .values()
        .filter(|x| x.user_id == s.user_id)
        .collect();
    all.sort_by(|a, b| {
        b.last_active_at
            .cmp(&a.last_active_at)
            .then(a.id.cmp(&b.id))
    });
    let r = render(&state, &db);
    Ok(Json(Value::Array(
        all.into_iter().map(|x| r.session(x)).collect(),
    )))
}

/// `POST /v1/me/sessions/{id}/revoke`: revoke any session of the same user,
/// on any device.
pub(crate) async fn me_revoke_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, acting) = acting_session(&state, &db, &ctx)?;
    let target = db
        .sessions
        .get(&id)
        .filter(|t| t.user_id == acting.user_id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    if let Some(max) = state.settings.reverification_minutes {
        let age = (state.clock.now_ms() - acting.first_factor_at) / 60_000;
        if age > max {
            let mut e = ApiError::new(
                StatusCode::FORBIDDEN,
                "session_reverification_required",
                "Additional verification required",
                "You need to provide additional verification to perform this operation",
            );
            e.meta.insert(
                "session_verification".into(),
                json!({"level": "first_factor", "after_minutes": max}),
            );
            return Err(e);
        }
    }
    if !target.status.is_signed_in() {
        return Err(ApiError::invalid_action("revoke", &id));
    }
    db.set_status(&id, SessionStatus::Revoked, state.clock.now_ms());
    let s = db
        .sessions
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::session_not_found(&id))?;
    let response = render(&state, &db).session(&s);
    let body = envelope(&state, &mut db, Some(&cid), response);
    state.persist(&db);
    Ok(reply(body, None))
}

/// `GET /v1/organizations/{id}/memberships`: members and roles, for members
/// holding `org:sys_memberships:read`.
pub(crate) async fn org_memberships(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let mut db = state.db();
    let (cid, acting) = acting_session(&state, &db, &ctx)?;
    let m = db
        .membership(&acting.user_id, &org)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Organization", &org))?;
    let allowed = db.role(&m.role).is_some_and(|r| {
        r.permissions
            .iter()
            .any(|p| p == "org:sys_memberships:read")
    });
    if !allowed {
        return Err(ApiError::authorization_invalid());
    }
    let r = render(&state, &db);
    let data: Vec<Value> = db
        .memberships
        .iter()
        .filter(|x| x.org_id == m.org_id)
        .filter_map(|x| r.membership(x, true))
        .collect();
    let total = data.len();
    let response = json!({"data": data, "total_count": total});
    Ok(reply(envelope(&state, &mut db, Some(&cid), response), None))
}

/// Issues a `rotating_token_nonce` valid for `nonce_ms`.
pub(crate) fn new_nonce(state: &Inner) -> Nonce {
    Nonce {
        value: random_token(24),
        expires_at: state.clock.now_ms() + state.settings.lifetimes.nonce_ms,
        used: false,
    }
}

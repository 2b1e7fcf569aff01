//! Hosted auth, Clerk's first-party native sign-in flow (Expo, iOS and
//! Android SDKs): `POST /v1/client/hosted_auth` starts a PKCE-bound attempt
//! and answers the Account Portal URL to open in the system browser; the
//! browser comes back to the app's `redirect_url` with `state`,
//! `rotating_token_nonce` and `created_session_id`; the app redeems with
//! `POST /v1/client` `_method=GET&rotating_token_nonce&code_verifier`.
//!
//! The FAPI spec lists these paths as empty stubs; the wire format is read
//! from the SDKs (clerk-expo `utils/hostedAuth.ts`, clerk-ios
//! `HostedAuth.swift`, clerk-android `ClientApi.kt`). What no source settles
//! (error codes, lifetimes, failure counting) is in `docs/DESIGN.md`.

use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sign_ins::sign_in_guard;
use super::{Call, invalid_nonce, reply};
use crate::config::redirect_allowed;
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::model::HostedAuth;
use crate::state::Inner;
use crate::store::NewSession;

/// `POST /v1/client/hosted_auth`: starts a PKCE-bound browser sign-in.
pub(crate) async fn hosted_auth(call: Call) -> ApiResult<Response> {
    let redirect_url = call.required("redirect_url")?.to_owned();
    let challenge = call.required("code_challenge")?.to_owned();
    let st = call.required("state")?.to_owned();
    check_redirect(&call.state, &redirect_url)?;
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
    // The SDKs send no method (S256 is implied); `plain` is refused so a
    // downgrade cannot happen (docs/threat-model.md, T5).
    if let Some(m) = call.param("code_challenge_method")
        && m != "S256"
    {
        return Err(ApiError::param_invalid(
            "code_challenge_method",
            "Only S256 is supported",
        ));
    }
    let mode = match call.param("mode") {
        None | Some("") | Some("sign-in") => "sign-in",
        Some("sign-up") => "sign-up",
        Some(_) => {
            return Err(ApiError::param_invalid(
                "mode",
                "mode must be sign-in or sign-up",
            ));
        }
    };
    let mut at = call.client_or_new();
    let now = call.state.clock.now_ms();
    let id = new_id("hauth");
    at.db.hosted.insert(
        id.clone(),
        HostedAuth {
            id: id.clone(),
            client_id: at.client_id.clone(),
            code_challenge: challenge,
            state: st,
            redirect_url,
            mode: mode.to_owned(),
            expires_at: now + call.state.settings.lifetimes.hosted_auth_ms,
            // Allocated now so the callback can name it (`created_session_id`).
            session_id: new_id("sess"),
            user_id: None,
            nonce: None,
            failures: 0,
            created_at: now,
            chosen_user: None,
            second_factor_at: None,
        },
    );
    let url = format!("{}/hosted/sign-in?attempt={id}", call.state.base_url);
    let body = at.envelope(json!({"object": "hosted_auth", "url": url}));
    let cred = at.new_credential();
    at.persist();
    Ok(reply(body, cred))
}

/// Clerk checks redirect URLs against the instance's "Allowlist for mobile
/// SSO redirect" (Dashboard → Native applications).
pub(super) fn check_redirect(state: &Inner, url: &str) -> ApiResult<()> {
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

/// S256: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2).
fn s256(verifier: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The redemption: the nonce names the attempt, the verifier proves the
/// caller started it, and the client must be the one that did.
pub(super) fn redeem_hosted_auth(call: &Call) -> ApiResult<Response> {
    let nonce = call.required("rotating_token_nonce")?.to_owned();
    let mut at = call.client()?;
    let now = call.state.clock.now_ms();
    let attempt_id = at
        .db
        .hosted
        .values()
        .find(|h| {
            h.nonce
                .as_ref()
                .is_some_and(|n| bool::from(n.value.as_bytes().ct_eq(nonce.as_bytes())))
        })
        .map(|h| h.id.clone())
        .ok_or_else(|| invalid_nonce("invalid"))?;
    let attempt = at
        .db
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
    // burn the legitimate client's attempt (docs/threat-model.md, T1).
    if attempt.client_id != at.client_id {
        return Err(invalid_nonce("not valid for this client"));
    }
    let verifier = call.required("code_verifier")?;
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
        // Three wrong verifiers burn the nonce: guessing is not a strategy.
        if let Some(h) = at.db.hosted.get_mut(&attempt_id) {
            h.failures += 1;
            if h.failures >= 3
                && let Some(n) = h.nonce.as_mut()
            {
                n.used = true;
            }
        }
        at.persist();
        return Err(ApiError::param_invalid(
            "code_verifier",
            "The code_verifier does not match the code_challenge",
        ));
    }
    let user_id = attempt
        .user_id
        .clone()
        .ok_or_else(|| invalid_nonce("invalid"))?;
    if let Some(h) = at.db.hosted.get_mut(&attempt_id)
        && let Some(n) = h.nonce.as_mut()
    {
        n.used = true;
    }
    sign_in_guard(&at.db, &at.client_id, &user_id).inspect_err(|_| at.persist())?;
    let cid = at.client_id.clone();
    let tasks = call.state.tasks_for(&at.db, &user_id);
    at.db.insert_session(
        attempt.session_id.clone(),
        NewSession {
            client_id: &cid,
            user_id: &user_id,
            now,
            user_agent: call.ctx.user_agent.clone(),
            ip_address: Some(call.ctx.ip.clone()),
            actor: None,
            org_id: None,
            lifetimes: &call.state.settings.lifetimes,
            second_factor_at: attempt.second_factor_at,
            tasks,
        },
    );
    if let Some(c) = at.db.clients.get_mut(&cid) {
        c.last_active_session_id = Some(attempt.session_id.clone());
        c.last_authentication_strategy = Some("hosted_auth".to_owned());
    }
    // Every completed sign-in rotates the credential (session fixation).
    at.db.rotate_client(&cid, now);
    let cred = at.credential();
    let body = at.client_envelope();
    at.persist();
    Ok(reply(body, cred))
}

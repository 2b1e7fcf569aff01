//! Sign-ups: `POST /v1/client/sign_ups` (`transfer=true` after an OAuth
//! sign-in that came back `transferable`, or an email address with an
//! email-code verification) and the verification steps. The emulator sends
//! no email: the code is Clerk's test code `424242`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::sign_ins::complete_sign_in;
use super::{Call, Scope, reply};
use crate::error::{ApiError, ApiResult};
use crate::ids::new_id;
use crate::model::{ExternalStatus, SignUp};
use crate::state::{LIMIT_CREATE_SIGN_UP, LIMIT_SIGN_UP_VERIFY};
use crate::store::NewUser;

/// `POST /v1/client/sign_ups`.
pub(crate) async fn create_sign_up(call: Call) -> ApiResult<Response> {
    call.rate(LIMIT_CREATE_SIGN_UP)?;
    let mut at = call.client_or_new();
    let now = call.state.clock.now_ms();
    let nonempty = |name: &str| {
        call.param(name)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let mut su = SignUp {
        id: new_id("sua"),
        client_id: at.client_id.clone(),
        status: "missing_requirements".to_owned(),
        email: None,
        first_name: nonempty("first_name"),
        last_name: nonempty("last_name"),
        password: nonempty("password"),
        email_verified: false,
        transfer_profile: None,
        created_session_id: None,
        created_user_id: None,
        abandon_at: now + call.state.settings.lifetimes.sign_in_ms,
        created_at: now,
    };
    let mut cred = at.new_credential();
    if matches!(call.param("transfer"), Some("true") | Some("1")) {
        transfer(&mut at, &mut su)?;
        cred = at.credential();
    } else {
        let email = call.required("email_address")?.to_owned();
        if !email.contains('@') || email.len() > 254 {
            return Err(ApiError::param_format_invalid(
                "email_address",
                "email_address must be a valid email address",
            ));
        }
        if at.db.user_by_email(&email).is_some() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
                "That email address is taken. Please try another.",
                "That email address is taken. Please try another.",
            )
            .with_meta("param_name", "email_address"));
        }
        su.email = Some(email);
        if let Some(c) = at.db.clients.get_mut(&at.client_id) {
            c.sign_up_id = Some(su.id.clone());
        }
    }
    let response = at.render().sign_up(&su);
    at.db.sign_ups.insert(su.id.clone(), su);
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

/// The OAuth "transfer": the external identity that had no account becomes
/// a new user, signed in at once.
fn transfer(at: &mut Scope<'_>, su: &mut SignUp) -> ApiResult<()> {
    let no_transfer = || {
        ApiError::param_invalid(
            "transfer",
            "There is no transferable sign-in on this client",
        )
    };
    let si = at
        .db
        .clients
        .get(&at.client_id)
        .and_then(|c| c.sign_in_id.clone())
        .and_then(|id| at.db.sign_ins.get(&id).cloned())
        .filter(|si| si.external_status == Some(ExternalStatus::Transferable))
        .ok_or_else(no_transfer)?;
    let profile = si.transfer_profile.clone().ok_or_else(no_transfer)?;
    if at.db.single_session_mode && !at.db.signed_in_on_client(&at.client_id).is_empty() {
        return Err(ApiError::session_exists());
    }
    let now = at.call.state.clock.now_ms();
    let uid = at.db.add_user(NewUser {
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        username: None,
        email: profile.email.clone(),
        password: None,
        avatar_color: None,
        mfa: false,
        now,
    });
    at.db.link_external(&uid, &profile.provider, now);
    su.email = Some(profile.email.clone());
    su.first_name = profile.first_name.clone();
    su.last_name = profile.last_name.clone();
    su.email_verified = true;
    su.transfer_profile = Some(profile);
    let sid = complete_sign_in(at, &uid, &si.strategy.clone().unwrap_or_default(), None);
    su.status = "complete".to_owned();
    su.created_user_id = Some(uid);
    su.created_session_id = Some(sid);
    Ok(())
}

/// The current client and its sign-up `id` (404 for another client's).
fn own_sign_up<'a>(call: &'a Call, id: &str) -> ApiResult<(Scope<'a>, SignUp)> {
    let at = call.client()?;
    let su = at
        .db
        .sign_ups
        .get(id)
        .filter(|s| s.client_id == at.client_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Sign up", id))?;
    Ok((at, su))
}

/// `POST /v1/client/sign_ups/{id}/prepare_verification`: the emulator
/// sends no email; the code is always `424242`.
pub(crate) async fn prepare_sign_up_verification(
    call: Call,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (mut at, su) = own_sign_up(&call, &id)?;
    let response = at.render().sign_up(&su);
    let body = at.envelope(response);
    Ok(reply(body, None))
}

/// `POST /v1/client/sign_ups/{id}/attempt_verification` (`code=424242`).
pub(crate) async fn attempt_sign_up_verification(
    call: Call,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    call.rate(LIMIT_SIGN_UP_VERIFY)?;
    let (mut at, mut su) = own_sign_up(&call, &id)?;
    let code = call.required("code")?;
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
    let now = call.state.clock.now_ms();
    let email = su
        .email
        .clone()
        .ok_or_else(|| ApiError::param_missing("email_address"))?;
    if at.db.single_session_mode && !at.db.signed_in_on_client(&at.client_id).is_empty() {
        return Err(ApiError::session_exists());
    }
    let uid = at.db.add_user(NewUser {
        first_name: su.first_name.clone(),
        last_name: su.last_name.clone(),
        username: None,
        email,
        password: su.password.clone(),
        avatar_color: None,
        mfa: false,
        now,
    });
    let sid = complete_sign_in(&mut at, &uid, "email_code", None);
    su.email_verified = true;
    su.status = "complete".to_owned();
    su.created_user_id = Some(uid);
    su.created_session_id = Some(sid);
    let response = at.render().sign_up(&su);
    at.db.sign_ups.insert(su.id.clone(), su);
    let cred = at.credential();
    let body = at.envelope(response);
    at.persist();
    Ok(reply(body, cred))
}

//! Server-rendered HTML: the Account Portal sign-in page for hosted auth,
//! a fake OAuth provider consent page, the demo web app ("Open in
//! Latchkey"), and SVG avatars. No JavaScript framework, no JavaScript.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::fapi::{PROVIDERS, new_nonce};
use crate::ids::new_id;
use crate::model::{ExternalStatus, ProviderProfile};
use crate::state::{AppState, Inner};

/// The scheme and path of the web-to-desktop handoff (docs/contracts.md).
pub const HANDOFF_URL: &str = "dev.latchkey.desktop://handoff";

/// Lifetime of tickets minted by the demo web app (docs/contracts.md: 300 s).
pub const HANDOFF_TICKET_SECS: i64 = 60;

pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn page(title: &str, app: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {app}</title>
<style>
:root{{color-scheme:light dark;--fg:#111827;--bg:#f3f4f6;--card:#fff;--muted:#6b7280;--accent:#4f46e5;--border:#e5e7eb}}
@media (prefers-color-scheme:dark){{:root{{--fg:#f3f4f6;--bg:#111827;--card:#1f2937;--muted:#9ca3af;--accent:#818cf8;--border:#374151}}}}
body{{font:15px/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg);margin:0;display:flex;justify-content:center;padding:40px 16px}}
main{{background:var(--card);border:1px solid var(--border);border-radius:12px;padding:28px;max-width:420px;width:100%}}
h1{{font-size:20px;margin:0 0 4px}} p.sub{{color:var(--muted);margin:0 0 20px}}
.users form{{margin:0 0 8px}} button,.btn{{display:flex;gap:10px;align-items:center;width:100%;padding:10px 12px;border:1px solid var(--border);border-radius:8px;background:transparent;color:inherit;font:inherit;cursor:pointer;text-align:left;text-decoration:none;box-sizing:border-box}}
button:hover,.btn:hover{{border-color:var(--accent)}} button.primary{{background:var(--accent);color:#fff;justify-content:center;border-color:var(--accent)}}
img{{width:32px;height:32px;border-radius:50%}} label{{display:block;margin:10px 0 4px;font-size:13px}}
input{{width:100%;box-sizing:border-box;padding:9px;border:1px solid var(--border);border-radius:8px;background:transparent;color:inherit;font:inherit}}
.err{{color:#dc2626;margin:8px 0}} .muted{{color:var(--muted);font-size:13px}} hr{{border:0;border-top:1px solid var(--border);margin:20px 0}}
.badge{{display:inline-block;font-size:11px;padding:2px 6px;border-radius:4px;background:#f59e0b;color:#111;margin-bottom:12px}}
code{{word-break:break-all}}
</style></head><body><main><span class="badge">Local Clerk emulator</span>{body}</main></body></html>"#,
        title = esc(title),
        app = esc(app),
    )
}

fn error_page(state: &Inner, status: StatusCode, title: &str, message: &str) -> Response {
    let app = state.db().application_name.clone();
    (
        status,
        Html(page(
            title,
            &app,
            &format!(
                "<h1>{}</h1><p class=\"err\">{}</p>",
                esc(title),
                esc(message)
            ),
        )),
    )
        .into_response()
}

fn redirect(url: &str) -> Response {
    let body = format!(
        "<!doctype html><p>Continue to <a href=\"{0}\">{0}</a></p>",
        esc(url)
    );
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, url.to_owned())],
        Html(body),
    )
        .into_response()
}

/// Appends query parameters to a redirect URL.
fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{q}")
}

// ---------------------------------------------------------------- index

/// `/`: what a developer needs to point a client at this instance.
pub(crate) async fn index(State(state): State<AppState>) -> Html<String> {
    let db = state.db();
    let pk = crate::server::publishable_key(&state.base_url);
    let body = format!(
        "<h1>{app}</h1><p class=\"sub\">A Clerk-compatible Frontend and Backend API on this machine.</p>\
<p><b>Frontend API</b><br><code>{base}</code></p><p><b>Backend API</b><br><code>{base}/bapi</code></p>\
<p><b>Publishable key</b><br><code>{pk}</code></p><p><b>Instance</b><br><code>{ins}</code></p>\
<hr><p><a class=\"btn\" href=\"/demo\">Demo web app (Open in Latchkey)</a></p><p><a class=\"btn\" href=\"/.well-known/jwks.json\">JWKS</a></p>",
        app = esc(&db.application_name),
        base = esc(&state.base_url),
        pk = esc(&pk),
        ins = esc(&db.instance_id),
    );
    Html(page("Local Clerk", &db.application_name, &body))
}

// ---------------------------------------------------------------- hosted sign-in

/// One button per seeded user. The emulator stands in for Clerk's Account
/// Portal, whose real sign-in methods (password, codes, passkeys) are not
/// the point here: choosing a user is the "sign-in".
fn user_buttons(
    state: &Inner,
    hidden: &[(&str, &str)],
    action: &str,
    filter: &dyn Fn(&crate::model::User) -> bool,
) -> String {
    let db = state.db();
    let hidden: String = hidden
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let mut users: Vec<&crate::model::User> = db.users.values().filter(|u| filter(u)).collect();
    users.sort_by_key(|u| (u.created_at, u.display_name()));
    users
        .into_iter()
        .map(|u| {
            format!(
                "<form method=\"post\" action=\"{action}\">{hidden}<input type=\"hidden\" name=\"user_id\" value=\"{id}\">\
<button type=\"submit\" aria-label=\"Continue as {name}\"><img alt=\"\" src=\"/avatars/{id}.svg\"><span><b>{name}</b><br><span class=\"muted\">{email}</span></span></button></form>",
                id = esc(&u.id),
                name = esc(&u.display_name()),
                email = esc(&u.email),
            )
        })
        .collect()
}

/// `GET /hosted/sign-in?attempt=…`: the Account Portal page a hosted-auth
/// URL opens in the system browser (never in the app's webview).
pub(crate) async fn hosted_sign_in_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(attempt) = q.get("attempt") else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign-in link incomplete",
            "This page is opened by an app that starts a sign-in. Start again from the app.",
        );
    };
    render_hosted(&state, attempt, None)
}

fn render_hosted(state: &Inner, attempt_id: &str, error: Option<&str>) -> Response {
    let (app, attempt) = {
        let db = state.db();
        (
            db.application_name.clone(),
            db.hosted.get(attempt_id).cloned(),
        )
    };
    if attempt
        .filter(|a| a.nonce.is_none() && state.clock.now_ms() < a.expires_at)
        .is_none()
    {
        return error_page(
            state,
            StatusCode::GONE,
            "This sign-in has expired",
            "The sign-in link is no longer valid. Go back to the app and start again.",
        );
    }
    let hidden = [("attempt", attempt_id)];
    let users = user_buttons(state, &hidden, "/hosted/sign-in", &|_| true);
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in to {app}</h1><p class=\"sub\">Choose a demo account, or sign in with email and password.</p>{err}\
<div class=\"users\">{users}</div><hr>\
<form method=\"post\" action=\"/hosted/sign-in\"><input type=\"hidden\" name=\"attempt\" value=\"{id}\">\
<label for=\"identifier\">Email address or username</label><input id=\"identifier\" name=\"identifier\" autocomplete=\"username\">\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
<p><button class=\"primary\" type=\"submit\">Continue</button></p></form>\
<form method=\"post\" action=\"/hosted/sign-in\"><input type=\"hidden\" name=\"attempt\" value=\"{id}\"><input type=\"hidden\" name=\"cancel\" value=\"1\"><button type=\"submit\">Cancel and return to the app</button></form>",
        app = esc(&app),
        id = esc(attempt_id),
    );
    Html(page("Sign in", &app, &body)).into_response()
}

/// `POST /hosted/sign-in`: the user chose an account (or cancelled). Like
/// Clerk's hosted auth, the browser is sent back to the attempt's
/// `redirect_url` with `state`, a fresh `rotating_token_nonce` and the
/// pre-allocated `created_session_id`; a cancel carries
/// `__clerk_status=failed&__clerk_error_code=user_cancelled`.
pub(crate) async fn hosted_sign_in_submit(
    State(state): State<AppState>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Some(attempt_id) = f.get("attempt").cloned() else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign-in link incomplete",
            "Start again from the app.",
        );
    };
    let attempt = state.db().hosted.get(&attempt_id).cloned();
    let Some(attempt) =
        attempt.filter(|a| a.nonce.is_none() && state.clock.now_ms() < a.expires_at)
    else {
        return error_page(
            &state,
            StatusCode::GONE,
            "This sign-in has expired",
            "The sign-in link is no longer valid. Go back to the app and start again.",
        );
    };
    if f.contains_key("cancel") {
        state.db().hosted.remove(&attempt_id);
        let url = with_params(
            &attempt.redirect_url,
            &[
                ("state", &attempt.state),
                ("__clerk_status", "failed"),
                ("__clerk_error_code", "user_cancelled"),
            ],
        );
        return redirect(&url);
    }
    if let Some(step) = f.get("step") {
        return hosted_step(&state, &attempt_id, &attempt, step, &f);
    }
    let user_id = if let Some(uid) = f.get("user_id") {
        match state.db().users.get(uid) {
            Some(u) => u.id.clone(),
            None => {
                return render_hosted(&state, &attempt_id, Some("That account does not exist."));
            }
        }
    } else {
        let ident = f
            .get("identifier")
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        let pw = f.get("password").map(String::as_str).unwrap_or("");
        let user = state.db().user_by_identifier(&ident).cloned();
        match user {
            Some(u) if u.password.as_deref() == Some(pw) && !pw.is_empty() => u.id,
            _ => {
                let mut res =
                    render_hosted(&state, &attempt_id, Some("Email or password is incorrect."));
                *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                return res;
            }
        }
    };
    {
        let mut db = state.db();
        if let Some(a) = db.hosted.get_mut(&attempt_id) {
            a.chosen_user = Some(user_id);
        }
    }
    next_hosted_step(&state, &attempt_id, None)
}

/// What the hosted page asks next for the chosen user: a second factor
/// (the user has one), then the session tasks done on the page
/// (`reset-password`, `setup-mfa`); when nothing is left, back to the app.
/// A `choose-organization` task is left for the app: the session comes
/// back `pending` and the app makes an organization active.
fn next_hosted_step(state: &Inner, attempt_id: &str, error: Option<&str>) -> Response {
    let (app, attempt, user) = {
        let db = state.db();
        let attempt = db.hosted.get(attempt_id).cloned();
        let user = attempt
            .as_ref()
            .and_then(|a| a.chosen_user.as_ref())
            .and_then(|u| db.users.get(u))
            .cloned();
        (db.application_name.clone(), attempt, user)
    };
    let (Some(attempt), Some(user)) = (attempt, user) else {
        return error_page(
            state,
            StatusCode::GONE,
            "This sign-in has expired",
            "Go back to the app and start again.",
        );
    };
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let form = |title: &str, sub: &str, step: &str, fields: &str, button: &str| {
        let body = format!(
            "<h1>{title}</h1><p class=\"sub\">{sub}</p>{err}\
<form method=\"post\" action=\"/hosted/sign-in\"><input type=\"hidden\" name=\"attempt\" value=\"{id}\">\
<input type=\"hidden\" name=\"step\" value=\"{step}\">{fields}\
<p><button class=\"primary\" type=\"submit\">{button}</button></p></form>",
            title = esc(title),
            sub = esc(sub),
            id = esc(attempt_id),
            step = esc(step),
        );
        Html(page(title, &app, &body)).into_response()
    };
    let code_field = "<label for=\"code\">Code from your authenticator app (the emulator's is 424242)</label>\
<input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\">";
    if user.mfa && attempt.second_factor_at.is_none() {
        return form(
            "Two-step verification",
            &format!("Enter the code for {}.", user.email),
            "mfa",
            code_field,
            "Verify",
        );
    }
    let tasks = state.tasks_for(&state.db(), &user.id);
    if tasks.iter().any(|t| t == "reset-password") {
        return form(
            "Choose a new password",
            "Your password must be changed before you continue.",
            "reset-password",
            "<label for=\"new_password\">New password</label><input id=\"new_password\" name=\"new_password\" type=\"password\" autocomplete=\"new-password\">",
            "Set password",
        );
    }
    if tasks.iter().any(|t| t == "setup-mfa") {
        return form(
            "Set up two-step verification",
            "This application requires a second factor. Add it to your authenticator app, then enter a code.",
            "setup-mfa",
            code_field,
            "Turn on",
        );
    }
    let nonce = new_nonce(state);
    let url = with_params(
        &attempt.redirect_url,
        &[
            ("state", &attempt.state),
            ("rotating_token_nonce", &nonce.value),
            ("created_session_id", &attempt.session_id),
        ],
    );
    {
        let mut db = state.db();
        if let Some(a) = db.hosted.get_mut(attempt_id) {
            a.user_id = Some(user.id.clone());
            a.nonce = Some(nonce);
        }
        state.persist(&db);
    }
    redirect(&url)
}

/// A step of the hosted page for the chosen user: the second factor, or a
/// session task.
fn hosted_step(
    state: &Inner,
    attempt_id: &str,
    attempt: &crate::model::HostedAuth,
    step: &str,
    f: &HashMap<String, String>,
) -> Response {
    let Some(uid) = attempt.chosen_user.clone() else {
        return render_hosted(state, attempt_id, Some("Choose an account first."));
    };
    let code_ok = f.get("code").is_some_and(|c| c.trim() == "424242");
    let now = state.clock.now_ms();
    let mut db = state.db();
    match step {
        "mfa" if code_ok => {
            if let Some(a) = db.hosted.get_mut(attempt_id) {
                a.second_factor_at = Some(now);
            }
        }
        "reset-password" => {
            let pw = f.get("new_password").map(|p| p.trim()).unwrap_or("");
            if pw.len() < 8 {
                drop(db);
                return bad_step(
                    state,
                    attempt_id,
                    "Choose a password of at least 8 characters.",
                );
            }
            if let Some(u) = db.users.get_mut(&uid) {
                u.password = Some(pw.to_owned());
                u.tasks_done.push("reset-password".to_owned());
            }
        }
        "setup-mfa" if code_ok => {
            if let Some(u) = db.users.get_mut(&uid) {
                u.mfa = true;
                u.tasks_done.push("setup-mfa".to_owned());
            }
            if let Some(a) = db.hosted.get_mut(attempt_id) {
                a.second_factor_at = Some(now);
            }
        }
        _ => {
            drop(db);
            return bad_step(state, attempt_id, "That code is not right.");
        }
    }
    state.persist(&db);
    drop(db);
    next_hosted_step(state, attempt_id, None)
}

/// The same step again, with what was wrong (422).
fn bad_step(state: &Inner, attempt_id: &str, message: &str) -> Response {
    let mut res = next_hosted_step(state, attempt_id, Some(message));
    if res.status().is_success() {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    res
}

// ---------------------------------------------------------------- fake OAuth provider

/// `GET /oauth/{provider}/authorize?sign_in_id=…`: the fake OAuth
/// provider's consent page (what `external_verification_redirect_url`
/// points at). Real providers return to Clerk's `/v1/oauth_callback`, which
/// then redirects to the app; the emulator folds both hops into one.
pub(crate) async fn oauth_page(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((_, pname)) = PROVIDERS.iter().find(|(p, _)| *p == provider) else {
        return error_page(
            &state,
            StatusCode::NOT_FOUND,
            "Unknown provider",
            "This OAuth provider is not emulated.",
        );
    };
    let Some(si_id) = q.get("sign_in_id") else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign-in link incomplete",
            "Start again from the app.",
        );
    };
    let (app, si) = {
        let db = state.db();
        (db.application_name.clone(), db.sign_ins.get(si_id).cloned())
    };
    if si
        .as_ref()
        .is_none_or(|s| s.external_status != Some(ExternalStatus::Unverified))
    {
        return error_page(
            &state,
            StatusCode::GONE,
            "This sign-in has expired",
            "Go back to the app and start again.",
        );
    }
    let action = format!("/oauth/{provider}/authorize");
    let hidden = [("sign_in_id", si_id.as_str())];
    let users = user_buttons(&state, &hidden, &action, &|u| {
        u.external_accounts.iter().any(|e| e.provider == provider)
    });
    let body = format!(
        "<h1>{pname} (emulated)</h1><p class=\"sub\">{app} wants to sign you in with your {pname} account.</p>\
<div class=\"users\">{users}</div><hr>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"sign_in_id\" value=\"{id}\"><input type=\"hidden\" name=\"new_account\" value=\"1\">\
<label for=\"email\">Or continue as a new {pname} account</label><input id=\"email\" name=\"email\" type=\"email\" placeholder=\"new.person@example.com\">\
<label for=\"first_name\">First name</label><input id=\"first_name\" name=\"first_name\"><label for=\"last_name\">Last name</label><input id=\"last_name\" name=\"last_name\">\
<p><button class=\"primary\" type=\"submit\">Continue with a new account</button></p></form>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"sign_in_id\" value=\"{id}\"><input type=\"hidden\" name=\"cancel\" value=\"1\"><button type=\"submit\">Cancel</button></form>",
        pname = esc(pname),
        app = esc(&app),
        id = esc(si_id),
    );
    Html(page(pname, &app, &body)).into_response()
}

/// `POST /oauth/{provider}/authorize`: consent given (or denied). A known
/// account verifies the sign-in; an unknown one makes it `transferable`
/// (Clerk's "sign up instead"); either way the browser goes to the sign-in's
/// `redirect_url` with a `rotating_token_nonce` the app reloads the sign-in
/// with. Denied: `__clerk_status=failed&__clerk_error_code=oauth_access_denied`.
pub(crate) async fn oauth_submit(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if !PROVIDERS.iter().any(|(p, _)| *p == provider) {
        return error_page(
            &state,
            StatusCode::NOT_FOUND,
            "Unknown provider",
            "This OAuth provider is not emulated.",
        );
    }
    let si_id = f.get("sign_in_id").cloned().unwrap_or_default();
    let mut db = state.db();
    let Some(si) = db
        .sign_ins
        .get(&si_id)
        .cloned()
        .filter(|s| s.external_status == Some(ExternalStatus::Unverified))
    else {
        drop(db);
        return error_page(
            &state,
            StatusCode::GONE,
            "This sign-in has expired",
            "Go back to the app and start again.",
        );
    };
    let redirect_url = si.redirect_url.clone().unwrap_or_default();
    let now = state.clock.now_ms();
    let mut updated = si.clone();
    if f.contains_key("cancel") {
        updated.external_status = Some(ExternalStatus::Failed);
        updated.external_error = Some("oauth_access_denied".to_owned());
        db.sign_ins.insert(si_id, updated);
        state.persist(&db);
        return redirect(&with_params(
            &redirect_url,
            &[
                ("__clerk_status", "failed"),
                ("__clerk_error_code", "oauth_access_denied"),
            ],
        ));
    }
    if let Some(uid) = f.get("user_id") {
        let linked = db
            .users
            .get(uid)
            .is_some_and(|u| u.external_accounts.iter().any(|e| e.provider == provider));
        if !linked {
            drop(db);
            return error_page(
                &state,
                StatusCode::BAD_REQUEST,
                "Unknown account",
                "That account is not linked to this provider.",
            );
        }
        updated.user_id = Some(uid.clone());
        updated.identifier = db.users.get(uid).map(|u| u.email.clone());
        updated.external_status = Some(ExternalStatus::Verified);
    } else {
        let email = f
            .get("email")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        if !email.contains('@') || email.len() > 254 {
            drop(db);
            return error_page(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "Email address needed",
                "Enter an email address for the new account, then try again.",
            );
        }
        let nonempty = |k: &str| {
            f.get(k)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        if let Some(uid) = db.user_by_email(&email).map(|u| u.id.clone()) {
            // A verified email that matches an existing user links the account.
            if !db
                .users
                .get(&uid)
                .is_some_and(|u| u.external_accounts.iter().any(|e| e.provider == provider))
            {
                db.link_external(&uid, &provider, now);
            }
            updated.user_id = Some(uid);
            updated.identifier = Some(email);
            updated.external_status = Some(ExternalStatus::Verified);
        } else {
            updated.identifier = Some(email.clone());
            updated.external_status = Some(ExternalStatus::Transferable);
            updated.transfer_profile = Some(ProviderProfile {
                provider: provider.clone(),
                provider_user_id: new_id(&provider),
                email,
                first_name: nonempty("first_name"),
                last_name: nonempty("last_name"),
            });
        }
    }
    let nonce = new_nonce(&state);
    let url = with_params(&redirect_url, &[("rotating_token_nonce", &nonce.value)]);
    updated.nonce = Some(nonce);
    db.sign_ins.insert(si_id, updated);
    state.persist(&db);
    redirect(&url)
}

// ---------------------------------------------------------------- demo web app

/// The demo web app keeps its own sign-in in a cookie: it is a stand-in
/// for *your* web app (which would use Clerk in the browser), not part of
/// the Clerk API.
fn demo_user(state: &Inner, headers: &HeaderMap) -> Option<crate::model::User> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    let uid = cookie
        .split(';')
        .map(str::trim)
        .find_map(|c| c.strip_prefix("demo_user="))?;
    state.db().users.get(uid).cloned()
}

/// `GET /demo`: sign in on the web, then "Open in Latchkey".
pub(crate) async fn demo_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let app = state.db().application_name.clone();
    let body = match demo_user(&state, &headers) {
        Some(u) => format!(
            "<h1>{app} web</h1><p class=\"sub\">You are signed in on the web as <b>{name}</b> ({email}).</p>\
<form method=\"post\" action=\"/demo/handoff\"><button class=\"primary\" type=\"submit\">Open in Latchkey</button></form>\
<p class=\"muted\">Hands this account to the desktop app with a one-time sign-in link that expires in {secs} seconds.</p><hr>\
<form method=\"post\" action=\"/demo/sign-out\"><button type=\"submit\">Sign out of the web app</button></form>",
            app = esc(&app),
            name = esc(&u.display_name()),
            email = esc(&u.email),
            secs = HANDOFF_TICKET_SECS,
        ),
        None => format!(
            "<h1>{app} web</h1><p class=\"sub\">A stand-in for your web app. Sign in to hand the account to Latchkey.</p><div class=\"users\">{users}</div>",
            app = esc(&app),
            users = user_buttons(&state, &[], "/demo/sign-in", &|_| true),
        ),
    };
    Html(page("Demo web app", &app, &body)).into_response()
}

/// `POST /demo/sign-in`: the web app's own sign-in (a cookie, `SameSite=Lax`).
pub(crate) async fn demo_sign_in(
    State(state): State<AppState>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let uid = f.get("user_id").cloned().unwrap_or_default();
    if !state.db().users.contains_key(&uid) {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Unknown account",
            "Choose one of the listed accounts.",
        );
    }
    let cookie = format!("demo_user={uid}; Path=/demo; HttpOnly; SameSite=Lax");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/demo".to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

/// `POST /demo/sign-out`.
pub(crate) async fn demo_sign_out() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/demo".to_owned()),
            (
                header::SET_COOKIE,
                "demo_user=; Path=/demo; Max-Age=0".to_owned(),
            ),
        ],
    )
        .into_response()
}

/// Mints a sign-in token (60 s) for the web user and sends the browser to
/// `dev.latchkey.desktop://handoff?ticket=…`. The ticket is a bearer value
/// in a URL any app registered for the scheme can read, so it lives as
/// short as a person needs, and the web app revokes it once that time is
/// up if it was not redeemed.
pub(crate) async fn demo_handoff(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(user) = demo_user(&state, &headers) else {
        return error_page(
            &state,
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Sign in to the demo web app first.",
        );
    };
    let (id, token) = {
        let mut db = state.db();
        let t = crate::bapi::mint_sign_in_token(&state, &mut db, &user.id, HANDOFF_TICKET_SECS);
        state.persist(&db);
        (t.id, t.token)
    };
    let revoker = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(HANDOFF_TICKET_SECS as u64)).await;
        let mut db = revoker.db();
        if let Some(t) = db.sign_in_tokens.get_mut(&id)
            && t.status == "pending"
        {
            t.status = "revoked".to_owned();
            t.updated_at = revoker.clock.now_ms();
            revoker.persist(&db);
        }
    });
    redirect(&with_params(HANDOFF_URL, &[("ticket", &token)]))
}

/// `GET /v1/tickets/accept?ticket=…`: where a sign-in token's `url` points.
/// The emulator's tickets are meant for the desktop app, so this page hands
/// the ticket to it.
pub(crate) async fn accept_ticket(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let app = state.db().application_name.clone();
    let Some(t) = q.get("ticket").filter(|t| !t.is_empty() && t.len() < 4096) else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "Link incomplete",
            "This sign-in link has no ticket.",
        );
    };
    let link = with_params(HANDOFF_URL, &[("ticket", t)]);
    let body = format!(
        "<h1>Open in Latchkey</h1><p class=\"sub\">This one-time link signs you in to {app} in the desktop app.</p><p><a class=\"btn\" href=\"{l}\">Open in Latchkey</a></p>",
        app = esc(&app),
        l = esc(&link)
    );
    Html(page("Open in Latchkey", &app, &body)).into_response()
}

// ---------------------------------------------------------------- avatars

/// An SVG avatar with the user's initials (or the org's first letter).
pub(crate) async fn avatar(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let id = file.strip_suffix(".svg").unwrap_or(&file);
    let (initials, color) = {
        let db = state.db();
        if let Some(u) = db.users.get(id) {
            (u.initials(), u.avatar_color.clone())
        } else if let Some(o) = db.orgs.get(id) {
            (
                o.name
                    .chars()
                    .next()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                "#475569".to_owned(),
            )
        } else {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    };
    let color = if color.len() == 7
        && color.starts_with('#')
        && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        color
    } else {
        "#475569".to_owned()
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"128\" height=\"128\" viewBox=\"0 0 128 128\"><rect width=\"128\" height=\"128\" fill=\"{color}\"/><text x=\"64\" y=\"64\" dy=\".35em\" text-anchor=\"middle\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"52\" fill=\"#fff\">{}</text></svg>",
        esc(&initials)
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        svg,
    )
        .into_response()
}

//! Sign-in flows: hosted auth with PKCE, OAuth through the fake provider,
//! transfer to sign-up, password, email sign-up, and Clerk's rate limits.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::common::*;

pub fn pkce() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Posts a form to an HTML page; returns the response.
pub async fn submit(
    emu: &clerk_emulator::EmulatorHandle,
    path: &str,
    form: &[(&str, &str)],
) -> Resp {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    raw(emu, req).await
}

/// Query parameters of a redirect's Location.
pub fn location_params(r: &Resp) -> (String, Vec<(String, String)>) {
    let loc = r
        .header("location")
        .unwrap_or_else(|| panic!("expected a redirect, got {} {}", r.status, r.text))
        .to_owned();
    let (base, q) = loc.split_once('?').unwrap_or((&loc, ""));
    let params = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    (base.to_owned(), params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Starts hosted auth on `c`, picks `email` on the page; returns the
/// callback parameters.
async fn hosted_until_callback(
    c: &mut Native<'_>,
    email: &str,
    redirect: &str,
    state: &str,
) -> Vec<(String, String)> {
    let (_, challenge) = pkce();
    let r = c
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", redirect),
                ("code_challenge", &challenge),
                ("state", state),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["object"], "hosted_auth");
    let url = r.json["response"]["url"].as_str().unwrap().to_owned();
    let path = url
        .strip_prefix(c.emu.frontend_api_url())
        .unwrap()
        .to_owned();
    let page = raw(c.emu, Request::get(&path).body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Sign in to Latchkey Demo"));
    let attempt = path.split("attempt=").nth(1).unwrap().to_owned();
    let uid = c.emu.user_id(email).unwrap();
    let r = submit(
        c.emu,
        "/hosted/sign-in",
        &[("attempt", &attempt), ("user_id", &uid)],
    )
    .await;
    assert_eq!(r.status, 303);
    let (base, params) = location_params(&r);
    assert_eq!(base, redirect);
    params
}

#[tokio::test]
async fn hosted_auth_with_pkce_signs_in_and_passes_state_through() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let params = hosted_until_callback(
        &mut c,
        "ada@example.com",
        "dev.latchkey.desktop://callback",
        "st&te=/x y",
    )
    .await;
    assert_eq!(
        param(&params, "state"),
        Some("st&te=/x y"),
        "state comes back untouched"
    );
    let nonce = param(&params, "rotating_token_nonce").unwrap().to_owned();
    let created = param(&params, "created_session_id").unwrap().to_owned();
    let (verifier, _) = pkce();
    let cred_before = c.credential.clone();

    // Wrong verifier: refused.
    let r = c
        .post(
            "/v1/client",
            &[
                ("_method", "GET"),
                ("rotating_token_nonce", &nonce),
                ("code_verifier", &"x".repeat(43)),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (422, "form_param_value_invalid")
    );
    assert_eq!(r.json["errors"][0]["meta"]["param_name"], "code_verifier");

    // A foreign client holding the captured callback cannot redeem it, and
    // does not burn it (docs/threat-model.md, T1).
    let mut thief = Native::new(&emu);
    thief.post("/v1/client", &[]).await;
    let sessions_before = emu.session_count();
    let r = thief
        .post(
            "/v1/client",
            &[
                ("_method", "GET"),
                ("rotating_token_nonce", &nonce),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(emu.session_count(), sessions_before);

    let r = c
        .post(
            "/v1/client",
            &[
                ("_method", "GET"),
                ("rotating_token_nonce", &nonce),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(
        c.credential, cred_before,
        "redemption rotates the credential"
    );
    let client = &r.json["response"];
    assert_eq!(client["last_active_session_id"], created.as_str());
    assert_eq!(client["sessions"][0]["id"], created.as_str());
    assert_eq!(emu.session_count(), sessions_before + 1);

    // The nonce is single-use.
    let r = c
        .post(
            "/v1/client",
            &[
                ("_method", "GET"),
                ("rotating_token_nonce", &nonce),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.json["errors"][0]["long_message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
}

#[tokio::test]
async fn hosted_auth_nonce_expires() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let params = hosted_until_callback(
        &mut c,
        "grace@example.com",
        "http://127.0.0.1:49999/callback",
        "s1",
    )
    .await;
    emu.advance_clock(Duration::from_secs(6 * 60));
    let (verifier, _) = pkce();
    let r = c
        .post(
            "/v1/client",
            &[
                ("_method", "GET"),
                (
                    "rotating_token_nonce",
                    param(&params, "rotating_token_nonce").unwrap(),
                ),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(
        r.json["errors"][0]["long_message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn hosted_auth_checks_redirect_challenge_and_state() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let (_, ch) = pkce();
    for bad in [
        "https://evil.example/callback",
        "dev.latchkey.desktop://evil",
        "http://localhost:5000/callback",
    ] {
        let r = c
            .post(
                "/v1/client/hosted_auth",
                &[
                    ("redirect_url", bad),
                    ("code_challenge", &ch),
                    ("state", "s"),
                ],
            )
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (422, "form_param_value_invalid"),
            "{bad}"
        );
        assert_eq!(r.json["errors"][0]["meta"]["param_name"], "redirect_url");
    }
    let r = c
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", "dev.latchkey.desktop://callback"),
                ("code_challenge", "short"),
                ("state", "s"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    let r = c
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", "dev.latchkey.desktop://callback"),
                ("code_challenge", &ch),
                ("state", "s"),
                ("code_challenge_method", "plain"),
            ],
        )
        .await;
    assert_eq!(r.status, 422, "plain PKCE is refused");
    let r = c
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", "dev.latchkey.desktop://callback"),
                ("code_challenge", &ch),
            ],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (422, "form_param_missing"));
}

#[tokio::test]
async fn hosted_page_password_errors_and_cancel() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let (_, ch) = pkce();
    let r = c
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", "dev.latchkey.desktop://callback"),
                ("code_challenge", &ch),
                ("state", "abc"),
            ],
        )
        .await;
    let url = r.json["response"]["url"].as_str().unwrap().to_owned();
    let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
    let r = submit(
        &emu,
        "/hosted/sign-in",
        &[
            ("attempt", &attempt),
            ("identifier", "ada@example.com"),
            ("password", "wrong"),
        ],
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(r.text.contains("Email or password is incorrect."));
    let r = submit(
        &emu,
        "/hosted/sign-in",
        &[
            ("attempt", &attempt),
            ("identifier", "ada"),
            ("password", "analytical-engine"),
        ],
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(
        location_params(&r)
            .1
            .iter()
            .any(|(k, _)| k == "rotating_token_nonce")
    );

    let r = c
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", "dev.latchkey.desktop://callback"),
                ("code_challenge", &ch),
                ("state", "xyz"),
            ],
        )
        .await;
    let attempt = r.json["response"]["url"]
        .as_str()
        .unwrap()
        .split("attempt=")
        .nth(1)
        .unwrap()
        .to_owned();
    let r = submit(
        &emu,
        "/hosted/sign-in",
        &[("attempt", &attempt), ("cancel", "1")],
    )
    .await;
    let (_, params) = location_params(&r);
    assert_eq!(param(&params, "__clerk_status"), Some("failed"));
    assert_eq!(param(&params, "state"), Some("xyz"));
    assert!(param(&params, "rotating_token_nonce").is_none());
    let page = raw(
        &emu,
        Request::get(format!("/hosted/sign-in?attempt={attempt}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, 410, "a cancelled attempt is gone");
}

#[tokio::test]
async fn oauth_sign_in_through_the_fake_provider() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "oauth_google"),
                ("redirect_url", "dev.latchkey.desktop://sso-callback"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let si = r.json["response"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["response"]["status"], "needs_identifier");
    let ext = r.json["response"]["first_factor_verification"]["external_verification_redirect_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        r.json["response"]["first_factor_verification"]["status"],
        "unverified"
    );
    let path = ext.strip_prefix(emu.frontend_api_url()).unwrap().to_owned();
    let page = raw(&emu, Request::get(&path).body(Body::empty()).unwrap()).await;
    assert!(page.text.contains("Google (emulated)"));
    assert!(
        page.text.contains("Ada Lovelace") && !page.text.contains("Grace Hopper"),
        "only accounts linked to Google"
    );

    let uid = emu.user_id("ada@example.com").unwrap();
    let r = submit(
        &emu,
        "/oauth/google/authorize",
        &[("sign_in_id", &si), ("user_id", &uid)],
    )
    .await;
    let (base, params) = location_params(&r);
    assert_eq!(base, "dev.latchkey.desktop://sso-callback");
    let nonce = param(&params, "rotating_token_nonce").unwrap().to_owned();

    // Only the client that created the sign-in can reload it.
    let mut thief = Native::new(&emu);
    thief.post("/v1/client", &[]).await;
    let r = thief
        .call(
            "GET",
            &format!("/v1/client/sign_ins/{si}"),
            &[("rotating_token_nonce", &nonce)],
            &[],
        )
        .await;
    assert_eq!(r.status, 404);

    let before = c.credential.clone();
    let r = c
        .call(
            "GET",
            &format!("/v1/client/sign_ins/{si}"),
            &[("rotating_token_nonce", &nonce)],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["status"], "complete");
    let sid = r.json["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(before, c.credential);
    assert_eq!(r.json["client"]["last_active_session_id"], sid.as_str());
    let r = c
        .call(
            "GET",
            &format!("/v1/client/sign_ins/{si}"),
            &[("rotating_token_nonce", &nonce)],
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "nonce is single-use");
}

#[tokio::test]
async fn oauth_unknown_account_transfers_to_sign_up() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "oauth_github"),
                ("redirect_url", "dev.latchkey.desktop://sso-callback"),
            ],
        )
        .await;
    let si = r.json["response"]["id"].as_str().unwrap().to_owned();
    let r = submit(
        &emu,
        "/oauth/github/authorize",
        &[
            ("sign_in_id", &si),
            ("new_account", "1"),
            ("email", "new.person@example.com"),
            ("first_name", "New"),
            ("last_name", "Person"),
        ],
    )
    .await;
    let (_, params) = location_params(&r);
    let nonce = param(&params, "rotating_token_nonce").unwrap().to_owned();
    let r = c
        .call(
            "GET",
            &format!("/v1/client/sign_ins/{si}"),
            &[("rotating_token_nonce", &nonce)],
            &[],
        )
        .await;
    assert_eq!(
        r.json["response"]["first_factor_verification"]["status"],
        "transferable"
    );
    assert_eq!(
        r.json["response"]["created_session_id"],
        serde_json::Value::Null
    );
    let r = c.post("/v1/client/sign_ups", &[("transfer", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["status"], "complete");
    assert!(
        r.json["response"]["created_user_id"]
            .as_str()
            .unwrap()
            .starts_with("user_")
    );
    assert_eq!(r.json["client"]["sessions"][0]["user"]["first_name"], "New");
    assert!(emu.user_id("new.person@example.com").is_some());

    // Cancel at the provider: failed.
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "oauth_google"),
                ("redirect_url", "dev.latchkey.desktop://sso-callback"),
            ],
        )
        .await;
    let si = r.json["response"]["id"].as_str().unwrap().to_owned();
    let r = submit(
        &emu,
        "/oauth/google/authorize",
        &[("sign_in_id", &si), ("cancel", "1")],
    )
    .await;
    let (_, params) = location_params(&r);
    assert_eq!(param(&params, "__clerk_status"), Some("failed"));
    assert_eq!(
        param(&params, "__clerk_error_code"),
        Some("oauth_access_denied")
    );
    // An unsupported provider is refused.
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "oauth_myspace"),
                ("redirect_url", "dev.latchkey.desktop://sso-callback"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
}

#[tokio::test]
async fn password_sign_in_and_email_sign_up() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "katherine@example.com")],
        )
        .await;
    assert_eq!(r.json["response"]["status"], "needs_first_factor");
    let si = r.json["response"]["id"].as_str().unwrap().to_owned();
    let r = c
        .post(
            &format!("/v1/client/sign_ins/{si}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "nope")],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (422, "form_password_incorrect"));
    let r = c
        .post(
            &format!("/v1/client/sign_ins/{si}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "orbit-1962")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["status"], "complete");
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "nobody@example.com")],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (422, "form_identifier_not_found")
    );

    let mut n = Native::new(&emu);
    let r = n
        .post(
            "/v1/client/sign_ups",
            &[
                ("email_address", "fresh@example.com"),
                ("password", "long-password-1"),
            ],
        )
        .await;
    assert_eq!(r.json["response"]["status"], "missing_requirements");
    let su = r.json["response"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        n.post(
            &format!("/v1/client/sign_ups/{su}/prepare_verification"),
            &[("strategy", "email_code")]
        )
        .await
        .status,
        200
    );
    let r = n
        .post(
            &format!("/v1/client/sign_ups/{su}/attempt_verification"),
            &[("code", "000000")],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (422, "form_code_incorrect"));
    let r = n
        .post(
            &format!("/v1/client/sign_ups/{su}/attempt_verification"),
            &[("code", "424242")],
        )
        .await;
    assert_eq!(r.json["response"]["status"], "complete");
    let r = n
        .post(
            "/v1/client/sign_ups",
            &[("email_address", "ada@example.com")],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (422, "form_identifier_exists"));
}

async fn hits_limit(
    emu: &clerk_emulator::EmulatorHandle,
    allowed: usize,
    mut call: impl AsyncFnMut() -> Resp,
) {
    for i in 0..allowed {
        let r = call().await;
        assert_ne!(r.status, 429, "request {} of {allowed} must pass", i + 1);
    }
    let r = call().await;
    assert_eq!((r.status, r.error_code()), (429, "too_many_requests"));
    let ra: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=10).contains(&ra), "Retry-After {ra}");
    emu.advance_clock(Duration::from_secs(ra));
    assert_ne!(call().await.status, 429, "the window slides");
}

#[tokio::test]
async fn clerk_rate_limits_per_ip() {
    let emu = start_with(|c| c.rate_limits = true).await;
    let mut c = Native::new(&emu);
    hits_limit(&emu, 5, async || {
        c.post(
            "/v1/client/sign_ins",
            &[("identifier", "katherine@example.com")],
        )
        .await
    })
    .await;
    hits_limit(&emu, 5, async || {
        c.post(
            "/v1/client/sign_ups",
            &[("email_address", "rl@example.com")],
        )
        .await
    })
    .await;
    let si = c
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "katherine@example.com")],
        )
        .await
        .json["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/client/sign_ins/{si}/attempt_first_factor");
    hits_limit(&emu, 3, async || {
        c.post(&path, &[("strategy", "password"), ("password", "x")])
            .await
    })
    .await;
    let path2 = format!("/v1/client/sign_ins/{si}/attempt_second_factor");
    emu.advance_clock(Duration::from_secs(10));
    hits_limit(&emu, 3, async || {
        c.post(&path2, &[("strategy", "totp"), ("code", "1")]).await
    })
    .await;
    let su = c
        .post(
            "/v1/client/sign_ups",
            &[("email_address", "rl2@example.com")],
        )
        .await
        .json["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path3 = format!("/v1/client/sign_ups/{su}/attempt_verification");
    hits_limit(&emu, 3, async || c.post(&path3, &[("code", "1")]).await).await;

    // Switched off, the same burst passes.
    emu.set_rate_limits(false);
    for _ in 0..20 {
        assert_ne!(
            c.post(
                "/v1/client/sign_ins",
                &[("identifier", "katherine@example.com")]
            )
            .await
            .status,
            429
        );
    }
}

#[tokio::test]
async fn tickets_expire_and_can_be_revoked() {
    let emu = start().await;
    let t = mint_ticket(&emu, "ada@example.com", 60).await;
    emu.advance_clock(Duration::from_secs(61));
    let r = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &t)],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (400, "ticket_expired_code"));
    let r = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", "forged")],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (400, "ticket_invalid_code"));

    let uid = emu.user_id("ada@example.com").unwrap();
    let m = bapi(
        &emu,
        "POST",
        "/v1/sign_in_tokens",
        Some(serde_json::json!({"user_id": uid, "expires_in_seconds": 300})),
    )
    .await;
    let id = m.json["id"].as_str().unwrap().to_owned();
    assert_eq!(m.json["status"], "pending");
    let r = bapi(
        &emu,
        "POST",
        &format!("/v1/sign_in_tokens/{id}/revoke"),
        None,
    )
    .await;
    assert_eq!(r.json["status"], "revoked");
    let r = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "ticket"),
                ("ticket", m.json["token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "sign_in_token_revoked_code")
    );
    let r = bapi(
        &emu,
        "POST",
        &format!("/v1/sign_in_tokens/{id}/revoke"),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "sign_in_token_cannot_be_revoked_code")
    );
}

#[tokio::test]
async fn demo_web_app_hands_off_a_short_lived_ticket() {
    let emu = start().await;
    let page = raw(&emu, Request::get("/demo").body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Ada Lovelace") && !page.text.contains("Open in Latchkey"));
    let uid = emu.user_id("ada@example.com").unwrap();
    let r = submit(&emu, "/demo/sign-in", &[("user_id", &uid)]).await;
    assert_eq!(r.status, 303);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = raw(
        &emu,
        Request::get("/demo")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(page.text.contains("Open in Latchkey") && page.text.contains("ada@example.com"));

    let r = raw(
        &emu,
        Request::post("/demo/handoff")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 303);
    let (base, params) = location_params(&r);
    assert_eq!(base, clerk_emulator::HANDOFF_URL);
    let ticket = param(&params, "ticket").unwrap().to_owned();
    // The ticket lives at most 60 s.
    emu.advance_clock(Duration::from_secs(61));
    let res = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!((res.status, res.error_code()), (400, "ticket_expired_code"));
    // A fresh one redeems to Ada.
    let r = raw(
        &emu,
        Request::post("/demo/handoff")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let ticket = param(&location_params(&r).1, "ticket").unwrap().to_owned();
    let mut c = Native::new(&emu);
    let res = c
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.json["client"]["sessions"][0]["user"]["id"],
        uid.as_str()
    );

    // Without the cookie there is nothing to hand off.
    let r = raw(
        &emu,
        Request::post("/demo/handoff").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, 401);
    // The ticket page of a BAPI sign-in token links to the app.
    let page = raw(
        &emu,
        Request::get(format!("/v1/tickets/accept?ticket={ticket}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(page.text.contains("dev.latchkey.desktop://handoff?ticket="));
    // Avatars are SVG initials.
    let svg = raw(
        &emu,
        Request::get(format!("/avatars/{uid}.svg"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.text.contains(">AL<"));
    assert_eq!(
        raw(
            &emu,
            Request::get("/avatars/user_nope.svg")
                .body(Body::empty())
                .unwrap()
        )
        .await
        .status,
        404
    );
}

/// The demo web app revokes its ticket once its 60 s are up, if it was
/// not redeemed (it is a bearer value in a URL other apps may read).
#[tokio::test(start_paused = true)]
async fn the_demo_web_app_revokes_its_unredeemed_ticket() {
    let emu = start().await;
    let uid = emu.user_id("ada@example.com").unwrap();
    let r = submit(&emu, "/demo/sign-in", &[("user_id", &uid)]).await;
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let handoff = || async {
        let r = raw(
            &emu,
            Request::post("/demo/handoff")
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        param(&location_params(&r).1, "ticket").unwrap().to_owned()
    };
    let unused = handoff().await;
    let used = handoff().await;
    let res = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &used)],
        )
        .await;
    assert_eq!(res.status, 200);
    // A minute of (paused, auto-advanced) time later.
    tokio::time::sleep(Duration::from_secs(61)).await;
    tokio::task::yield_now().await;
    let res = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &unused)],
        )
        .await;
    assert_eq!(
        (res.status, res.error_code()),
        (400, "sign_in_token_revoked_code"),
        "{}",
        res.text
    );
}

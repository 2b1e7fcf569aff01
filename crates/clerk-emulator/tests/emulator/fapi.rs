//! Frontend API endpoints, state transitions and error codes, in-process.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn environment_describes_the_instance() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let r = c.get("/v1/environment").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["auth_config"]["single_session_mode"], false);
    assert_eq!(
        r.json["auth_config"]["native_settings"]["api_enabled"],
        true
    );
    assert_eq!(
        r.json["display_config"]["application_name"],
        "Latchkey Demo"
    );
    assert_eq!(
        r.json["display_config"]["instance_environment_type"],
        "development"
    );
    assert_eq!(
        r.json["user_settings"]["social"]["oauth_google"]["enabled"],
        true
    );
    assert_eq!(
        r.json["user_settings"]["social"]["oauth_github"]["enabled"],
        true
    );
    assert!(
        r.header("authorization").is_none(),
        "environment never issues a credential"
    );

    let single = start_with(|c| c.single_session_mode = Some(true)).await;
    let r = Native::new(&single).get("/v1/environment").await;
    assert_eq!(r.json["auth_config"]["single_session_mode"], true);
}

#[tokio::test]
async fn client_is_created_and_read_back_with_either_header_form() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let r = c.get("/v1/client").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"response": null, "client": null}));

    let r = c.post("/v1/client", &[]).await;
    assert_eq!(r.status, 200);
    let cred = r
        .header("authorization")
        .expect("credential header")
        .to_owned();
    let id = r.json["response"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("client_"));
    assert_eq!(r.json["client"]["id"], id.as_str());

    let r = c.get("/v1/client").await;
    assert_eq!(r.json["response"]["id"], id.as_str());
    assert!(r.header("authorization").is_none(), "reads do not rotate");

    // `Bearer <credential>` works as well as the raw value.
    c.credential = Some(format!("Bearer {cred}"));
    assert_eq!(
        c.get("/v1/client").await.json["response"]["id"],
        id.as_str()
    );
    // An empty header and garbage are "no client", not errors.
    c.credential = Some(String::new());
    assert_eq!(c.get("/v1/client").await.json["response"], Value::Null);
    c.credential = Some("not-a-credential".into());
    assert_eq!(c.get("/v1/client").await.json["response"], Value::Null);
    // PUT creates a client too.
    let r = Native::new(&emu).call("PUT", "/v1/client", &[], &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("authorization").is_some());
}

#[tokio::test]
async fn ticket_sign_in_rotates_the_credential_and_lists_the_session() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    c.post("/v1/client", &[]).await;
    let before = c.credential.clone().unwrap();
    let sid = c.sign_in_ticket("ada@example.com").await;
    let after = c.credential.clone().unwrap();
    assert_ne!(before, after, "sign-in rotates the client credential");

    let r = c.get("/v1/client").await;
    let client = &r.json["response"];
    assert_eq!(client["last_active_session_id"], sid.as_str());
    let sessions = client["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["status"], "active");
    assert_eq!(
        sessions[0]["user"]["email_addresses"][0]["email_address"],
        "ada@example.com"
    );
    assert_eq!(
        sessions[0]["public_user_data"]["identifier"],
        "ada@example.com"
    );
    assert!(
        sessions[0]["expire_at"].as_i64().unwrap() > 1_700_000_000_000,
        "timestamps are milliseconds"
    );
    let jwt = sessions[0]["last_active_token"]["jwt"]
        .as_str()
        .expect("last_active_token");
    assert_eq!(decode_jwt(jwt).1["sid"], sid.as_str());

    // The pre-sign-in credential no longer identifies the client (anti
    // session fixation).
    let mut stale = Native::new(&emu);
    stale.credential = Some(before);
    assert_eq!(stale.get("/v1/client").await.json["response"], Value::Null);
}

fn verify(emu: &clerk_emulator::EmulatorHandle, jwks: &Value, jwt: &str) -> Value {
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], emu.instance_id());
    assert_eq!(key["alg"], "RS256");
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.set_issuer(&[emu.frontend_api_url()]);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(jwt, &dk, &v)
        .expect("valid RS256 token")
        .claims
}

#[tokio::test]
async fn session_tokens_are_rs256_v2_claims_signed_by_the_jwks_key() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let r = c
        .post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["object"], "token");
    assert!(r.json.get("response").is_none(), "token is a bare object");
    let jwt = r.json["jwt"].as_str().unwrap();
    let (header, _) = decode_jwt(jwt);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], emu.instance_id());
    let jwks = raw(
        &emu,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .json;
    let claims = verify(&emu, &jwks, jwt);
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(
        claims["sub"],
        emu.user_id("ada@example.com").unwrap().as_str()
    );
    assert_eq!(claims["iss"], emu.frontend_api_url());
    assert_eq!(claims["v"], 2);
    assert_eq!(claims["sts"], "active");
    assert_eq!(claims["fva"], json!([0, -1]));
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 60);
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat - 10);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(claims.get("azp").is_none(), "no Origin, no azp");
    assert!(claims.get("o").is_none(), "no active organization");
    // The BAPI JWKS is the same key set.
    assert_eq!(bapi(&emu, "GET", "/v1/jwks", None).await.json, jwks);
}

#[tokio::test]
async fn token_lifetime_is_configurable_and_azp_follows_origin() {
    let emu = start_with(|c| c.token_lifetime = Duration::from_secs(2)).await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("grace@example.com").await;
    let jwt = c
        .post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await
        .json["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = decode_jwt(&jwt).1;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        2
    );

    // Browser mode: credential as the __client cookie, with an Origin.
    let cred = c.credential.clone().unwrap();
    let req = Request::post(format!(
        "/v1/client/sessions/{sid}/tokens?__clerk_api_version=2026-05-12"
    ))
    .header("cookie", format!("__client={cred}"))
    .header("origin", "https://app.example.com")
    .body(Body::empty())
    .unwrap();
    let r = raw(&emu, req).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        decode_jwt(r.json["jwt"].as_str().unwrap()).1["azp"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn origin_with_authorization_in_native_mode_is_a_conflict() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    c.post("/v1/client", &[]).await;
    let req = Request::get(Native::url("/v1/client", &[]))
        .header("authorization", c.credential.clone().unwrap())
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let r = raw(&emu, req).await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "origin_authorization_headers_conflict")
    );

    let req = Request::get(Native::url("/v1/client", &[]))
        .header("authorization", "a")
        .header("authorization", "b")
        .body(Body::empty())
        .unwrap();
    let r = raw(&emu, req).await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "multiple_authorization_header_values_forbidden")
    );
}

#[tokio::test]
async fn api_version_must_be_a_date_sent_one_way() {
    let emu = start().await;
    for (q, status) in [
        ("2026-05-12", 200),
        ("2099-01-31", 200),
        ("2026-13-01", 400),
        ("latest", 400),
        ("", 400),
    ] {
        let r = raw(
            &emu,
            Request::get(format!("/v1/environment?__clerk_api_version={q}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, status, "version {q:?}");
        if status == 400 {
            assert_eq!(r.error_code(), "api_version_invalid");
        }
    }
    let r = raw(
        &emu,
        Request::get("/v1/environment")
            .header("clerk-api-version", "2026-05-12")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    let both = Request::get("/v1/environment?__clerk_api_version=2026-05-12")
        .header("clerk-api-version", "2026-05-12")
        .body(Body::empty())
        .unwrap();
    let r = raw(&emu, both).await;
    assert_eq!((r.status, r.error_code()), (400, "api_version_invalid"));
}

#[tokio::test]
async fn native_api_can_be_disabled() {
    let emu = start_with(|c| c.native_api_enabled = false).await;
    let r = Native::new(&emu).get("/v1/client").await;
    assert_eq!((r.status, r.error_code()), (400, "native_api_disabled"));
}

#[tokio::test]
async fn method_override_in_query_and_form() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    c.sign_in_ticket("ada@example.com").await;
    // clerk-js: POST /v1/client/sessions?_method=DELETE
    let r = c
        .call("POST", "/v1/client/sessions", &[("_method", "DELETE")], &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["sessions"], json!([]));
    let r = c
        .call("POST", "/v1/client", &[], &[("_method", "BREW")])
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (422, "form_param_value_invalid")
    );
}

#[tokio::test]
async fn several_accounts_touch_and_identifier_already_signed_in() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let ada = c.sign_in_ticket("ada@example.com").await;
    let grace = c.sign_in_ticket("grace@example.com").await;
    let r = c.get("/v1/client").await;
    assert_eq!(r.json["response"]["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(r.json["response"]["last_active_session_id"], grace.as_str());

    let r = c
        .post(
            &format!("/v1/client/sessions/{ada}/touch"),
            &[("intent", "select_session"), ("active_organization_id", "")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["id"], ada.as_str());
    assert_eq!(r.json["client"]["last_active_session_id"], ada.as_str());

    // The same user again: refused with the existing session in meta, and
    // the ticket is not consumed.
    let ticket = mint_ticket(&emu, "ada@example.com", 300).await;
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "identifier_already_signed_in")
    );
    assert_eq!(r.json["errors"][0]["meta"]["session_id"], ada.as_str());
    let mut other = Native::new(&emu);
    let r = other
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!(
        r.status, 200,
        "an unconsumed ticket still works elsewhere: {}",
        r.text
    );
    // Used once: a replay fails.
    let r = Native::new(&emu)
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "sign_in_token_already_used_code")
    );

    let r = c
        .post(
            &format!("/v1/client/sessions/{ada}/touch"),
            &[("intent", "wander")],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (422, "form_param_value_invalid")
    );
}

#[tokio::test]
async fn single_session_mode_refuses_a_second_account() {
    let emu = start_with(|c| c.single_session_mode = Some(true)).await;
    let mut c = Native::new(&emu);
    c.sign_in_ticket("ada@example.com").await;
    let ticket = mint_ticket(&emu, "grace@example.com", 300).await;
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (400, "session_exists"));
    assert_eq!(
        c.get("/v1/client").await.json["response"]["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn organizations_in_tokens_touch_and_memberships() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let r = c
        .post(
            &format!("/v1/client/sessions/{sid}/touch"),
            &[
                ("intent", "select_org"),
                ("active_organization_id", "analytical-engines"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let org_id = r.json["response"]["last_active_organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(org_id.starts_with("org_"));
    let jwt = c
        .post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await
        .json["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims = decode_jwt(&jwt).1;
    assert_eq!(claims["o"]["id"], org_id.as_str());
    assert_eq!(claims["o"]["slg"], "analytical-engines");
    assert_eq!(claims["o"]["rol"], "admin");
    assert_eq!(claims["o"]["per"], "read,manage");
    assert_eq!(claims["o"]["fpm"], "3");
    assert_eq!(claims["fea"], "o:reports");
    // Present-but-empty organization_id = personal account for this token.
    let jwt = c
        .post(
            &format!("/v1/client/sessions/{sid}/tokens"),
            &[("organization_id", "")],
        )
        .await
        .json["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(decode_jwt(&jwt).1.get("o").is_none());
    // The other org: member role.
    let jwt = c
        .post(
            &format!("/v1/client/sessions/{sid}/tokens"),
            &[("organization_id", "harvard-mark-i")],
        )
        .await
        .json["jwt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(decode_jwt(&jwt).1["o"]["rol"], "member");
    // Not a member.
    let r = c
        .post(
            &format!("/v1/client/sessions/{sid}/touch"),
            &[("active_organization_id", "org_nope")],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));

    let r = c
        .call(
            "GET",
            &format!("/v1/organizations/{org_id}/memberships"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = r.json["response"]["data"].as_array().unwrap();
    assert_eq!(r.json["response"]["total_count"], 3);
    let roles: Vec<(&str, &str)> = data
        .iter()
        .map(|m| {
            (
                m["public_user_data"]["identifier"].as_str().unwrap(),
                m["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(roles.contains(&("ada@example.com", "org:admin")));
    assert!(roles.contains(&("grace@example.com", "org:member")));

    // Katherine is in no organization.
    let mut k = Native::new(&emu);
    let ks = k.sign_in_ticket("katherine@example.com").await;
    let r = k
        .call(
            "GET",
            &format!("/v1/organizations/{org_id}/memberships"),
            &[("_clerk_session_id", &ks)],
            &[],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
}

#[tokio::test]
async fn template_tokens_carry_template_claims_and_no_sid() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let r = c
        .post(&format!("/v1/client/sessions/{sid}/tokens/supabase"), &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claims = decode_jwt(r.json["jwt"].as_str().unwrap()).1;
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(
        claims["sub"],
        emu.user_id("ada@example.com").unwrap().as_str()
    );
    assert!(claims.get("sid").is_none() && claims.get("v").is_none());
    assert_eq!(
        claims["nbf"].as_i64().unwrap(),
        claims["iat"].as_i64().unwrap() - 5
    );
    let claims = decode_jwt(
        c.post(&format!("/v1/client/sessions/{sid}/tokens/api"), &[])
            .await
            .json["jwt"]
            .as_str()
            .unwrap(),
    )
    .1;
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    let r = c
        .post(&format!("/v1/client/sessions/{sid}/tokens/nope"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
}

#[tokio::test]
async fn end_keeps_the_session_listed_and_remove_drops_it() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let ada = c.sign_in_ticket("ada@example.com").await;
    let grace = c.sign_in_ticket("grace@example.com").await;

    let r = c.post(&format!("/v1/client/sessions/{ada}/end"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["response"]["status"], "ended");
    assert_eq!(r.json["response"]["last_active_token"], Value::Null);
    let listed: Vec<String> = r.json["client"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(listed.contains(&ada), "ended sessions stay on the client");
    let r = c
        .post(&format!("/v1/client/sessions/{ada}/tokens"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (401, "signed_out"));
    let r = c.post(&format!("/v1/client/sessions/{ada}/end"), &[]).await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "invalid_action_for_session")
    );

    let r = c
        .post(&format!("/v1/client/sessions/{grace}/remove"), &[])
        .await;
    assert_eq!(r.json["response"]["status"], "removed");
    assert!(
        r.json["client"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != grace.as_str())
    );
    assert_eq!(r.json["client"]["last_active_session_id"], Value::Null);
    let r = c
        .post(&format!("/v1/client/sessions/{grace}/tokens"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
    // Another client's session is not found here.
    let mut other = Native::new(&emu);
    let theirs = other.sign_in_ticket("alan@example.com").await;
    let r = c
        .post(&format!("/v1/client/sessions/{theirs}/tokens"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
    let r = c.get(&format!("/v1/client/sessions/{theirs}")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn sign_out_all_keeps_the_client_and_delete_client_clears_the_credential() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let a = c.sign_in_ticket("ada@example.com").await;
    c.sign_in_ticket("grace@example.com").await;
    let r = c.call("DELETE", "/v1/client/sessions", &[], &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["response"]["sessions"], json!([]));
    assert_eq!(emu.session_status(&a).as_deref(), Some("removed"));
    let r = c.get("/v1/client").await;
    assert!(r.json["response"]["id"].is_string(), "the client survives");

    c.sign_in_ticket("alan@example.com").await;
    let r = c.call("DELETE", "/v1/client", &[], &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"response": null, "client": null}));
    assert_eq!(
        r.header("authorization"),
        Some(""),
        "empty header = clear the stored credential"
    );
    assert!(c.credential.is_none());
}

#[tokio::test]
async fn me_endpoints_list_devices_and_revoke_another_device() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let r = c
        .call("GET", "/v1/me", &[("_clerk_session_id", &sid)], &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["response"]["email_addresses"][0]["email_address"],
        "ada@example.com"
    );
    assert_eq!(
        r.json["response"]["organization_memberships"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = c
        .call(
            "GET",
            "/v1/me/sessions/active",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    let list = r.json.as_array().expect("bare array");
    assert_eq!(list.len(), 3, "this device and the two seeded ones");
    let mine = list.iter().find(|s| s["id"] == sid.as_str()).unwrap();
    assert_eq!(mine["latest_activity"]["browser_name"], "Latchkey");
    assert_eq!(mine["latest_activity"]["device_type"], "Linux");
    let iphone = list
        .iter()
        .find(|s| s["latest_activity"]["device_type"] == "iPhone")
        .unwrap();
    assert_eq!(iphone["latest_activity"]["city"], "Berlin");
    assert_eq!(iphone["latest_activity"]["country"], "DE");
    assert_eq!(iphone["latest_activity"]["is_mobile"], true);
    let other = iphone["id"].as_str().unwrap().to_owned();

    let r = c
        .call(
            "POST",
            &format!("/v1/me/sessions/{other}/revoke"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["status"], "revoked");
    assert_eq!(emu.session_status(&other).as_deref(), Some("revoked"));
    let r = c
        .call(
            "GET",
            "/v1/me/sessions/active",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert_eq!(r.json.as_array().unwrap().len(), 2);
    let r = c
        .call(
            "POST",
            &format!("/v1/me/sessions/{other}/revoke"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "invalid_action_for_session")
    );
    let r = c
        .call(
            "GET",
            "/v1/me/sessions",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert!(
        r.json
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == other.as_str() && s["status"] == "revoked")
    );

    // Grace's session is not Ada's to revoke.
    let graces = bapi(
        &emu,
        "GET",
        &format!(
            "/v1/sessions?user_id={}",
            emu.user_id("grace@example.com").unwrap()
        ),
        None,
    )
    .await;
    let gs = graces.json[0]["id"].as_str().unwrap().to_owned();
    let r = c
        .call(
            "POST",
            &format!("/v1/me/sessions/{gs}/revoke"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
    // /me needs a signed-in session on this client.
    let r = Native::new(&emu)
        .call("GET", "/v1/me", &[("_clerk_session_id", &sid)], &[])
        .await;
    assert_eq!((r.status, r.error_code()), (401, "signed_out"));
}

#[tokio::test]
async fn revoked_elsewhere_means_signed_out_here() {
    let emu = start().await;
    let mut laptop = Native::new(&emu);
    let mine = laptop.sign_in_ticket("ada@example.com").await;
    let mut phone = Native::new(&emu);
    let theirs = phone.sign_in_ticket("ada@example.com").await;
    let r = phone
        .call(
            "POST",
            &format!("/v1/me/sessions/{mine}/revoke"),
            &[("_clerk_session_id", &theirs)],
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = laptop
        .post(&format!("/v1/client/sessions/{mine}/tokens"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (401, "signed_out"));
    let r = laptop.get("/v1/client").await;
    let s = &r.json["response"]["sessions"][0];
    assert_eq!(
        (s["id"].as_str(), s["status"].as_str()),
        (Some(mine.as_str()), Some("revoked")),
        "revoked stays listed in multi-session mode"
    );
    assert_eq!(r.json["response"]["last_active_session_id"], Value::Null);
}

#[tokio::test]
async fn reverification_is_required_after_the_configured_age() {
    let emu = start_with(|c| c.reverification_minutes = Some(10)).await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let devices = c
        .call(
            "GET",
            "/v1/me/sessions/active",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await
        .json;
    let other = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] != sid.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.advance_clock(Duration::from_secs(11 * 60));
    let r = c
        .call(
            "POST",
            &format!("/v1/me/sessions/{other}/revoke"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (403, "session_reverification_required")
    );
    assert_eq!(emu.session_status(&other).as_deref(), Some("active"));
    let env = c.get("/v1/environment").await;
    assert_eq!(env.json["auth_config"]["reverification"], true);
}

#[tokio::test]
async fn sessions_expire_with_the_clock() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    emu.advance_clock(Duration::from_secs(7 * 24 * 3600 + 1));
    let r = c
        .post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (401, "signed_out"));
    assert_eq!(emu.session_status(&sid).as_deref(), Some("expired"));
}

#[tokio::test]
async fn last_active_token_is_reused_until_half_its_life() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    c.sign_in_ticket("ada@example.com").await;
    let t1 = c.get("/v1/client").await.json["response"]["sessions"][0]["last_active_token"]["jwt"]
        .clone();
    let t2 = c.get("/v1/client").await.json["response"]["sessions"][0]["last_active_token"]["jwt"]
        .clone();
    assert_eq!(t1, t2);
    emu.advance_clock(Duration::from_secs(31));
    let t3 = c.get("/v1/client").await.json["response"]["sessions"][0]["last_active_token"]["jwt"]
        .clone();
    assert_ne!(t1, t3, "a token past half its life is re-minted");
}

#[tokio::test]
async fn unknown_paths_get_clerk_errors() {
    let emu = start().await;
    let r = Native::new(&emu).get("/v1/nothing/here").await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
    assert!(r.json["clerk_trace_id"].is_string());
}

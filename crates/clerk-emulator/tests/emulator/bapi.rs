//! Backend API subset: secret-key auth, users, sessions (with the
//! other-device extension), sign-in tokens, JWKS.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn backend_api_requires_the_secret_key() {
    let emu = start().await;
    let req = axum::http::Request::get("/bapi/v1/users")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = raw(&emu, req).await;
    assert_eq!(
        (r.status, r.error_code()),
        (401, "authorization_header_format_invalid")
    );
    let req = axum::http::Request::get("/bapi/v1/users")
        .header("authorization", "Bearer sk_test_wrong")
        .body(axum::body::Body::empty())
        .unwrap();
    let r = raw(&emu, req).await;
    assert_eq!((r.status, r.error_code()), (401, "authentication_invalid"));
    assert_eq!(bapi(&emu, "GET", "/v1/nope", None).await.status, 404);
}

#[tokio::test]
async fn users_are_created_and_listed() {
    let emu = start().await;
    let r = bapi(&emu, "POST", "/v1/users", Some(json!({"email_address": ["lin@example.com"], "first_name": "Lin", "password": "pw-123456"}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["object"], "user");
    assert_eq!(r.json["first_name"], "Lin");
    let r = bapi(
        &emu,
        "POST",
        "/v1/users",
        Some(json!({"email_address": ["lin@example.com"]})),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (422, "form_identifier_exists"));
    let r = bapi(&emu, "POST", "/v1/users", Some(json!({"first_name": "x"}))).await;
    assert_eq!((r.status, r.error_code()), (422, "form_param_missing"));
    let r = bapi(&emu, "POST", "/v1/users", Some(json!("not an object"))).await;
    assert_eq!(r.status, 422);
    let r = bapi(&emu, "GET", "/v1/users", None).await;
    assert_eq!(r.json.as_array().unwrap().len(), 5);
    let r = bapi(&emu, "GET", "/v1/users?email_address=lin@example.com", None).await;
    assert_eq!(r.json.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sessions_on_other_devices_and_revocation() {
    let emu = start().await;
    let uid = emu.user_id("katherine@example.com").unwrap();
    let r = bapi(&emu, "POST", "/v1/sessions", Some(json!({
        "user_id": uid,
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
        "ip_address": "192.0.2.77",
        "actor": {"sub": "user_support", "type": "impersonation"},
    }))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let remote = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["latest_activity"]["city"], "Arlington");
    assert_eq!(r.json["actor"]["sub"], "user_support");

    let mut c = Native::new(&emu);
    let mine = c.sign_in_ticket("katherine@example.com").await;
    let list = c
        .call(
            "GET",
            "/v1/me/sessions/active",
            &[("_clerk_session_id", &mine)],
            &[],
        )
        .await
        .json;
    let remote_entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == remote.as_str())
        .expect("remote device listed");
    assert_eq!(remote_entry["latest_activity"]["device_type"], "Macintosh");
    assert_eq!(remote_entry["actor"]["sub"], "user_support");

    let r = bapi(&emu, "GET", &format!("/v1/sessions?user_id={uid}"), None).await;
    assert_eq!(r.json.as_array().unwrap().len(), 2);
    let r = bapi(
        &emu,
        "GET",
        &format!("/v1/sessions?user_id={uid}&paginated=true&limit=1"),
        None,
    )
    .await;
    assert_eq!(r.json["total_count"], 2);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
    let r = bapi(&emu, "GET", "/v1/sessions", None).await;
    assert_eq!((r.status, r.error_code()), (422, "form_param_missing"));
    let r = bapi(
        &emu,
        "GET",
        &format!("/v1/sessions?user_id={uid}&limit=0"),
        None,
    )
    .await;
    assert_eq!(r.status, 422);

    // Revoking this device from the backend signs it out here.
    let r = bapi(&emu, "POST", &format!("/v1/sessions/{mine}/revoke"), None).await;
    assert_eq!(r.json["status"], "revoked");
    let r = c
        .post(&format!("/v1/client/sessions/{mine}/tokens"), &[])
        .await;
    assert_eq!((r.status, r.error_code()), (401, "signed_out"));
    let r = bapi(&emu, "POST", &format!("/v1/sessions/{mine}/revoke"), None).await;
    assert_eq!(
        (r.status, r.error_code()),
        (400, "invalid_action_for_session")
    );
    assert_eq!(
        bapi(&emu, "GET", &format!("/v1/sessions/{mine}"), None)
            .await
            .json["status"],
        "revoked"
    );
    assert_eq!(
        bapi(&emu, "GET", "/v1/sessions/sess_nope", None)
            .await
            .status,
        404
    );
    let r = bapi(
        &emu,
        "POST",
        "/v1/sessions",
        Some(json!({"user_id": "user_nope"})),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn sign_in_token_lifetime_is_bounded() {
    let emu = start().await;
    let uid = emu.user_id("ada@example.com").unwrap();
    let r = bapi(
        &emu,
        "POST",
        "/v1/sign_in_tokens",
        Some(json!({"user_id": uid})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["object"], "sign_in_token");
    assert!(
        r.json["url"]
            .as_str()
            .unwrap()
            .contains("/v1/tickets/accept?ticket=")
    );
    let r = bapi(
        &emu,
        "POST",
        "/v1/sign_in_tokens",
        Some(json!({"user_id": uid, "expires_in_seconds": 0})),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = bapi(
        &emu,
        "POST",
        "/v1/sign_in_tokens",
        Some(json!({"user_id": "user_nope"})),
    )
    .await;
    assert_eq!((r.status, r.error_code()), (404, "resource_not_found"));
}

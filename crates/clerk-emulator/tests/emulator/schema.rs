//! Every implemented FAPI response validates against Clerk's published
//! OpenAPI spec (vendored in `spec/clerk-openapi/fapi-2026-05-12.yml`; a
//! missing spec fails the run), and the validator is shown to bite on
//! mutated responses.
//!
//! Checks on top of the spec's JSON schemas (the spec under-specifies
//! these; `docs/contracts.md`, "Wire format", documents them):
//! - timestamps (`*_at` integers) are Unix milliseconds, not seconds;
//! - token endpoints answer the bare `Token` object
//!   (`{"object":"token","jwt"}`), not an envelope.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::common::*;
use crate::sign_in::{location_params, pkce, submit};

fn spec_path() -> PathBuf {
    if let Ok(p) = std::env::var("CLERK_FAPI_SPEC") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/clerk-openapi/fapi-2026-05-12.yml")
}

/// OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a `null` type (or an
/// `anyOf` with null around compositions and refs).
fn convert(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (_, x) in m.iter_mut() {
                convert(x);
            }
            match m.get("nullable") {
                Some(Value::Bool(true)) => {
                    m.remove("nullable");
                    if ["allOf", "oneOf", "anyOf", "$ref"]
                        .iter()
                        .any(|k| m.contains_key(*k))
                    {
                        let inner = Value::Object(std::mem::take(m));
                        m.insert("anyOf".into(), json!([{"type": "null"}, inner]));
                    } else if let Some(t) = m.get("type").cloned() {
                        m.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = m.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                }
                Some(Value::Bool(false)) => {
                    m.remove("nullable");
                }
                _ => {}
            }
        }
        Value::Array(a) => a.iter_mut().for_each(convert),
        _ => {}
    }
}

pub struct Spec {
    doc: Value,
    cache: Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>,
}

pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = spec_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("Clerk's FAPI OpenAPI spec is required at {} (set CLERK_FAPI_SPEC to override): {e}", path.display())
        });
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("spec is YAML");
        let mut doc: Value = serde_json::to_value(yaml).expect("spec converts to JSON");
        convert(&mut doc);
        Spec { doc, cache: Mutex::new(HashMap::new()) }
    })
}

impl Spec {
    fn validator(&self, pointer: &str) -> std::sync::Arc<jsonschema::Validator> {
        let mut cache = self.cache.lock().unwrap();
        cache
            .entry(pointer.to_owned())
            .or_insert_with(|| {
                let schema = json!({"$ref": pointer, "components": self.doc["components"]});
                std::sync::Arc::new(
                    jsonschema::draft4::options()
                        .should_validate_formats(false)
                        .build(&schema)
                        .unwrap_or_else(|e| panic!("schema {pointer}: {e}")),
                )
            })
            .clone()
    }

    /// The JSON pointer of the schema the spec gives for this response.
    fn response_schema(&self, method: &str, template: &str, status: u16) -> String {
        if (template.ends_with("/tokens") || template.ends_with("/tokens/{template_name}"))
            && status == 200
        {
            return "#/components/schemas/Token".into();
        }
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not in the spec");
        let resp = &op["responses"][status.to_string()];
        let resp = if resp.is_null() {
            assert!(
                status >= 400,
                "{method} {template} has no {status} response in the spec"
            );
            return "#/components/schemas/ClerkErrors".into();
        } else {
            resp
        };
        let resp = match resp["$ref"].as_str() {
            Some(r) => &self.doc["components"]["responses"][r.rsplit('/').next().unwrap()],
            None => resp,
        };
        let schema = &resp["content"]["application/json"]["schema"];
        match schema["$ref"].as_str() {
            Some(r) => r.to_owned(),
            None => panic!("{method} {template} {status}: inline schema not handled"),
        }
    }

    /// Validates a response body; returns every problem found.
    pub fn check(
        &self,
        method: &str,
        template: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), Vec<String>> {
        let pointer = self.response_schema(method, template, status);
        let v = self.validator(&pointer);
        let mut errors: Vec<String> = v
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        millis(body, "", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `*_at` integers must be milliseconds (after 2001-09-09).
fn millis(v: &Value, path: &str, errors: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}/{k}");
                if k.ends_with("_at")
                    && let Some(n) = x.as_i64()
                    && n < 1_000_000_000_000
                {
                    errors.push(format!("{p} = {n} looks like seconds, not milliseconds"));
                }
                millis(x, &p, errors);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| millis(x, &format!("{path}/{i}"), errors)),
        _ => {}
    }
}

pub fn ok(method: &str, template: &str, r: &Resp) {
    assert!(
        !r.json.is_null() || r.status == 204,
        "{method} {template}: not JSON: {}",
        r.text
    );
    if let Err(errs) = spec().check(method, template, r.status, &r.json) {
        panic!(
            "{method} {template} ({}) does not match the spec:\n  {}\nbody: {}",
            r.status,
            errs.join("\n  "),
            r.text
        );
    }
}

#[tokio::test]
async fn every_fapi_response_matches_clerks_openapi_spec() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    ok("GET", "/v1/environment", &c.get("/v1/environment").await);
    ok("GET", "/v1/client", &c.get("/v1/client").await);
    ok("POST", "/v1/client", &c.post("/v1/client", &[]).await);
    ok(
        "PUT",
        "/v1/client",
        &Native::new(&emu).call("PUT", "/v1/client", &[], &[]).await,
    );

    let ticket = mint_ticket(&emu, "ada@example.com", 300).await;
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", &ticket)],
        )
        .await;
    ok("POST", "/v1/client/sign_ins", &r);
    let sid = r.json["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok("GET", "/v1/client", &c.get("/v1/client").await);
    let r = c
        .post(
            &format!("/v1/client/sessions/{sid}/touch"),
            &[
                ("intent", "select_org"),
                ("active_organization_id", "analytical-engines"),
            ],
        )
        .await;
    ok("POST", "/v1/client/sessions/{session_id}/touch", &r);
    let org = r.json["response"]["last_active_organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        "POST",
        "/v1/client/sessions/{session_id}/tokens",
        &c.post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
            .await,
    );
    ok(
        "POST",
        "/v1/client/sessions/{session_id}/tokens/{template_name}",
        &c.post(&format!("/v1/client/sessions/{sid}/tokens/supabase"), &[])
            .await,
    );
    ok(
        "GET",
        "/v1/client/sessions/{session_id}",
        &c.get(&format!("/v1/client/sessions/{sid}")).await,
    );
    ok(
        "GET",
        "/v1/me",
        &c.call("GET", "/v1/me", &[("_clerk_session_id", &sid)], &[])
            .await,
    );
    let active = c
        .call(
            "GET",
            "/v1/me/sessions/active",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await;
    ok("GET", "/v1/me/sessions/active", &active);
    ok(
        "GET",
        "/v1/me/sessions",
        &c.call(
            "GET",
            "/v1/me/sessions",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await,
    );
    ok(
        "GET",
        "/v1/organizations/{organization_id}/memberships",
        &c.call(
            "GET",
            &format!("/v1/organizations/{org}/memberships"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await,
    );
    let other = active
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] != sid.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        "POST",
        "/v1/me/sessions/{session_id}/revoke",
        &c.call(
            "POST",
            &format!("/v1/me/sessions/{other}/revoke"),
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await,
    );

    // OAuth and transfer to sign-up.
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[
                ("strategy", "oauth_github"),
                ("redirect_url", "dev.latchkey.desktop://sso-callback"),
            ],
        )
        .await;
    ok("POST", "/v1/client/sign_ins", &r);
    let si = r.json["response"]["id"].as_str().unwrap().to_owned();
    let r = submit(
        &emu,
        "/oauth/github/authorize",
        &[
            ("sign_in_id", &si),
            ("new_account", "1"),
            ("email", "schema@example.com"),
        ],
    )
    .await;
    let nonce = location_params(&r)
        .1
        .into_iter()
        .find(|(k, _)| k == "rotating_token_nonce")
        .unwrap()
        .1;
    ok(
        "GET",
        "/v1/client/sign_ins/{sign_in_id}",
        &c.call(
            "GET",
            &format!("/v1/client/sign_ins/{si}"),
            &[("rotating_token_nonce", &nonce)],
            &[],
        )
        .await,
    );
    ok(
        "POST",
        "/v1/client/sign_ups",
        &c.post("/v1/client/sign_ups", &[("transfer", "true")]).await,
    );
    // Password sign-in and email sign-up.
    let r = c
        .post(
            "/v1/client/sign_ins",
            &[("identifier", "katherine@example.com")],
        )
        .await;
    ok("POST", "/v1/client/sign_ins", &r);
    let si = r.json["response"]["id"].as_str().unwrap().to_owned();
    ok(
        "POST",
        "/v1/client/sign_ins/{sign_in_id}/attempt_first_factor",
        &c.post(
            &format!("/v1/client/sign_ins/{si}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "orbit-1962")],
        )
        .await,
    );
    let mut n = Native::new(&emu);
    let r = n
        .post(
            "/v1/client/sign_ups",
            &[("email_address", "fresh@example.com")],
        )
        .await;
    ok("POST", "/v1/client/sign_ups", &r);
    let su = r.json["response"]["id"].as_str().unwrap().to_owned();
    ok(
        "POST",
        "/v1/client/sign_ups/{sign_up_id}/attempt_verification",
        &n.post(
            &format!("/v1/client/sign_ups/{su}/attempt_verification"),
            &[("code", "424242")],
        )
        .await,
    );

    // Hosted auth redemption is POST /v1/client with _method=GET.
    let (verifier, challenge) = pkce();
    let mut h = Native::new(&emu);
    let r = h
        .post(
            "/v1/client/hosted_auth",
            &[
                ("redirect_url", "dev.latchkey.desktop://callback"),
                ("code_challenge", &challenge),
                ("state", "s"),
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
        &[
            ("attempt", &attempt),
            ("user_id", &emu.user_id("alan@example.com").unwrap()),
        ],
    )
    .await;
    let nonce = location_params(&r)
        .1
        .into_iter()
        .find(|(k, _)| k == "rotating_token_nonce")
        .unwrap()
        .1;
    ok(
        "GET",
        "/v1/client",
        &h.post(
            "/v1/client",
            &[
                ("_method", "GET"),
                ("rotating_token_nonce", &nonce),
                ("code_verifier", &verifier),
            ],
        )
        .await,
    );

    // End, remove, sign out all, destroy.
    let a = c.sign_in_ticket("alan@example.com").await;
    ok(
        "POST",
        "/v1/client/sessions/{session_id}/end",
        &c.post(&format!("/v1/client/sessions/{a}/end"), &[]).await,
    );
    ok(
        "POST",
        "/v1/client/sessions/{session_id}/remove",
        &c.post(&format!("/v1/client/sessions/{sid}/remove"), &[])
            .await,
    );
    ok(
        "DELETE",
        "/v1/client/sessions",
        &c.call("DELETE", "/v1/client/sessions", &[], &[]).await,
    );
    ok(
        "DELETE",
        "/v1/client",
        &c.call("DELETE", "/v1/client", &[], &[]).await,
    );

    // Errors are Clerk envelopes.
    let mut e = Native::new(&emu);
    e.post("/v1/client", &[]).await;
    ok(
        "POST",
        "/v1/client/sessions/{session_id}/tokens",
        &e.post("/v1/client/sessions/sess_nope/tokens", &[]).await,
    );
    ok(
        "POST",
        "/v1/client/sessions/{session_id}/touch",
        &e.post("/v1/client/sessions/sess_nope/touch", &[]).await,
    );
    ok(
        "GET",
        "/v1/me/sessions/active",
        &e.get("/v1/me/sessions/active").await,
    );
    ok(
        "POST",
        "/v1/client/sign_ins",
        &e.post(
            "/v1/client/sign_ins",
            &[("strategy", "ticket"), ("ticket", "nope")],
        )
        .await,
    );
    let r = raw(
        &emu,
        Request::get("/v1/environment?__clerk_api_version=nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    ok("GET", "/v1/environment", &r);
    let jwks = raw(
        &emu,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    ok("GET", "/.well-known/jwks.json", &jwks);
}

#[tokio::test]
async fn the_validator_bites_on_mutated_responses() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let client = c.get("/v1/client").await.json;
    let token = c
        .post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await
        .json;
    let devices = c
        .call(
            "GET",
            "/v1/me/sessions/active",
            &[("_clerk_session_id", &sid)],
            &[],
        )
        .await
        .json;
    let s = spec();
    assert!(s.check("GET", "/v1/client", 200, &client).is_ok());
    assert!(
        s.check(
            "POST",
            "/v1/client/sessions/{session_id}/tokens",
            200,
            &token
        )
        .is_ok()
    );
    assert!(
        s.check("GET", "/v1/me/sessions/active", 200, &devices)
            .is_ok()
    );

    // A required field dropped.
    let mut m = client.clone();
    m["response"]
        .as_object_mut()
        .unwrap()
        .remove("last_active_session_id");
    assert!(
        s.check("GET", "/v1/client", 200, &m).is_err(),
        "missing required field accepted"
    );
    let mut m = client.clone();
    m["response"]["sessions"][0]
        .as_object_mut()
        .unwrap()
        .remove("status");
    assert!(
        s.check("GET", "/v1/client", 200, &m).is_err(),
        "session without status accepted"
    );
    // A wrong enum value.
    let mut m = client.clone();
    m["response"]["sessions"][0]["status"] = json!("logged_in");
    assert!(s.check("GET", "/v1/client", 200, &m).is_err());
    // The token wrapped in an envelope.
    let wrapped = json!({"response": token, "client": client["client"]});
    assert!(
        s.check(
            "POST",
            "/v1/client/sessions/{session_id}/tokens",
            200,
            &wrapped
        )
        .is_err(),
        "wrapped token accepted"
    );
    // Timestamps in seconds.
    let mut m = client.clone();
    let ms = m["response"]["created_at"].as_i64().unwrap();
    m["response"]["created_at"] = json!(ms / 1000);
    let errs = s.check("GET", "/v1/client", 200, &m).unwrap_err();
    assert!(errs.iter().any(|e| e.contains("seconds")), "{errs:?}");
    // A bare array wrapped in an object.
    let wrapped = json!({"data": devices});
    assert!(
        s.check("GET", "/v1/me/sessions/active", 200, &wrapped)
            .is_err(),
        "wrapped array accepted"
    );
    // An environment with a field the spec does not allow, or a wrong type.
    let env = c.get("/v1/environment").await.json;
    assert!(s.check("GET", "/v1/environment", 200, &env).is_ok());
    let mut m = env.clone();
    m["auth_config"]["single_session_mode"] = json!("no");
    assert!(s.check("GET", "/v1/environment", 200, &m).is_err());
    let mut m = env.clone();
    m["surprise"] = json!(1);
    assert!(s.check("GET", "/v1/environment", 200, &m).is_err());
    // An error that is a bare string.
    assert!(
        s.check(
            "POST",
            "/v1/client/sessions/{session_id}/tokens",
            404,
            &json!("not found")
        )
        .is_err()
    );
}

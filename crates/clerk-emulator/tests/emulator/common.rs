//! Shared helpers: starting emulators with a shared RSA key, and a small
//! native-mode FAPI client that talks to the emulator in-process (no socket)
//! through `EmulatorHandle::service()`.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use clerk_emulator::{Emulator, EmulatorConfig, EmulatorHandle, KeyMaterial};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A `reqwest` client builder. In a workspace build reqwest is compiled with
/// `rustls-no-provider` (for latchkey-core), which panics in `build()` unless
/// a rustls crypto provider is installed: install ring first.
pub fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub const API_VERSION: &str = "2026-05-12";

/// One RSA key for the whole test binary: key generation is the slow part of
/// starting an emulator.
pub fn shared_keys() -> KeyMaterial {
    static KEYS: OnceLock<KeyMaterial> = OnceLock::new();
    KEYS.get_or_init(|| KeyMaterial::generate().expect("generate test keys"))
        .clone()
}

/// The demo seed, rate limits off, shared keys.
pub async fn start() -> EmulatorHandle {
    start_with(|_| {}).await
}

pub async fn start_with(f: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut cfg = EmulatorConfig {
        key_material: Some(shared_keys()),
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    f(&mut cfg);
    Emulator::start(cfg).await.expect("start emulator")
}

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// The first error code of a Clerk error envelope.
    pub fn error_code(&self) -> &str {
        self.json["errors"][0]["code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request through the emulator's service, in-process.
pub async fn raw(emu: &EmulatorHandle, req: Request<Body>) -> Resp {
    let res = emu.service().oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        json,
    }
}

/// A native-mode client: `_is_native=1`, API version, credential in
/// `Authorization`, rotated credential adopted from responses.
pub struct Native<'a> {
    pub emu: &'a EmulatorHandle,
    pub credential: Option<String>,
    pub user_agent: String,
}

impl<'a> Native<'a> {
    pub fn new(emu: &'a EmulatorHandle) -> Self {
        Self {
            emu,
            credential: None,
            user_agent: "Latchkey/0.1.0 (Linux; x86_64)".into(),
        }
    }

    pub fn url(path: &str, query: &[(&str, &str)]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("_is_native", "1")
            .append_pair("__clerk_api_version", API_VERSION);
        for (k, v) in query {
            ser.append_pair(k, v);
        }
        format!("{path}?{}", ser.finish())
    }

    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(Self::url(path, query))
            .header("user-agent", &self.user_agent);
        if let Some(c) = &self.credential {
            b = b.header("authorization", c);
        }
        let body = if method == "GET" {
            Body::empty()
        } else {
            b = b.header("content-type", "application/x-www-form-urlencoded");
            Body::from(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            )
        };
        let r = raw(self.emu, b.body(body).expect("request")).await;
        if let Some(c) = r.header("authorization") {
            self.credential = if c.is_empty() {
                None
            } else {
                Some(c.to_owned())
            };
        }
        r
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.call("GET", path, &[], &[]).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.call("POST", path, &[], form).await
    }

    /// Signs in with a fresh BAPI sign-in token for `email`; returns the
    /// session id.
    pub async fn sign_in_ticket(&mut self, email: &str) -> String {
        let ticket = mint_ticket(self.emu, email, 300).await;
        let r = self
            .post(
                "/v1/client/sign_ins",
                &[("strategy", "ticket"), ("ticket", &ticket)],
            )
            .await;
        assert_eq!(r.status, 200, "ticket sign-in failed: {}", r.text);
        assert_eq!(r.json["response"]["status"], "complete");
        r.json["response"]["created_session_id"]
            .as_str()
            .expect("created_session_id")
            .to_owned()
    }
}

/// A Backend API call with the secret key.
pub async fn bapi(emu: &EmulatorHandle, method: &str, path: &str, body: Option<Value>) -> Resp {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("/bapi{path}"))
        .header("authorization", format!("Bearer {}", emu.secret_key()));
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    raw(emu, b.body(body).expect("request")).await
}

pub async fn mint_ticket(emu: &EmulatorHandle, email: &str, secs: i64) -> String {
    let uid = emu.user_id(email).expect("seeded user");
    let r = bapi(
        emu,
        "POST",
        "/v1/sign_in_tokens",
        Some(serde_json::json!({"user_id": uid, "expires_in_seconds": secs})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["token"].as_str().expect("token").to_owned()
}

/// Decodes a JWT's header and payload without checking the signature.
pub fn decode_jwt(jwt: &str) -> (Value, Value) {
    use base64::Engine;
    let dec = |s: &str| -> Value {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url");
        serde_json::from_slice(&b).expect("json")
    };
    let mut parts = jwt.split('.');
    let h = dec(parts.next().expect("header"));
    let p = dec(parts.next().expect("payload"));
    (h, p)
}

/// Requests (from the log) whose path matches exactly.
pub fn count(emu: &EmulatorHandle, method: &str, path: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

use std::sync::OnceLock;

use clerk_emulator::{Emulator, EmulatorConfig, EmulatorHandle, KeyMaterial};
use latchkey_core::{Fapi, Instance};
use serde_json::{Value, json};

pub fn keys() -> KeyMaterial {
    static K: OnceLock<KeyMaterial> = OnceLock::new();
    K.get_or_init(|| KeyMaterial::generate().expect("keys"))
        .clone()
}

pub struct Env {
    pub emu: EmulatorHandle,
    pub instance: Instance,
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

pub async fn env_with(f: impl FnOnce(&mut EmulatorConfig)) -> Env {
    let mut cfg = EmulatorConfig {
        key_material: Some(keys()),
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    f(&mut cfg);
    let emu = Emulator::start(cfg).await.expect("emulator");
    let instance = Instance::local_demo(
        emu.frontend_api_url(),
        emu.instance_id(),
        emu.publishable_key(),
    )
    .expect("instance");
    Env { emu, instance }
}

impl Env {
    pub fn fapi(&self) -> Fapi {
        Fapi::new(self.instance.clone(), None).expect("fapi")
    }

    pub fn user_id(&self, email: &str) -> String {
        self.emu.user_id(email).expect("seeded user")
    }

    pub async fn bapi(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = latchkey_core::http_client_builder()
            .build()
            .unwrap()
            .request(method, format!("{}{path}", self.emu.backend_api_url()))
            .bearer_auth(self.emu.secret_key());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("bapi");
        assert!(res.status().is_success(), "bapi {path}: {}", res.status());
        res.json().await.expect("json")
    }

    pub async fn ticket(&self, email: &str) -> String {
        let t = self
            .bapi(
                reqwest::Method::POST,
                "/v1/sign_in_tokens",
                Some(json!({"user_id": self.user_id(email), "expires_in_seconds": 300})),
            )
            .await;
        t["token"].as_str().unwrap().to_owned()
    }

    /// The browser: on the hosted sign-in page at `url`, pick `email`;
    /// returns where the browser is sent (the app's callback URL).
    pub async fn browser_hosted(&self, url: &str, email: &str) -> String {
        let attempt = url
            .split("attempt=")
            .nth(1)
            .expect("attempt in the page URL")
            .to_owned();
        self.post_page(
            "/hosted/sign-in",
            &[("attempt", &attempt), ("user_id", &self.user_id(email))],
        )
        .await
    }

    /// The browser at the fake OAuth provider: continue as `email` (linked),
    /// or as a new account when `new_account`.
    pub async fn browser_oauth(&self, url: &str, email: &str, new_account: bool) -> String {
        let path = url
            .strip_prefix(self.emu.frontend_api_url())
            .expect("provider page on the emulator");
        let (route, q) = path.split_once('?').unwrap();
        let sign_in = q.split("sign_in_id=").nth(1).unwrap().to_owned();
        if new_account {
            self.post_page(
                route,
                &[
                    ("sign_in_id", &sign_in),
                    ("new_account", "1"),
                    ("email", email),
                    ("first_name", "New"),
                ],
            )
            .await
        } else {
            self.post_page(
                route,
                &[("sign_in_id", &sign_in), ("user_id", &self.user_id(email))],
            )
            .await
        }
    }

    pub async fn post_page(&self, path: &str, form: &[(&str, &str)]) -> String {
        let http = latchkey_core::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = http
            .post(format!("{}{path}", self.emu.frontend_api_url()))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "page did not redirect");
        res.headers()["location"].to_str().unwrap().to_owned()
    }

    /// FAPI requests the emulator saw (admin endpoints excluded).
    pub fn fapi_requests(&self) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1/"))
            .count()
    }
}

/// Signs arbitrary claims with the emulator's RSA key (RS256, given kid).
pub fn forge(kid: &str, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(keys().rsa_private_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn count(env: &Env, method: &str, path: &str) -> usize {
    env.emu
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

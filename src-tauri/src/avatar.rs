//! Avatars, fetched by Rust and handed to the webview as `data:` URLs (the
//! CSP allows no remote origin). Size-capped (256 KiB), time-capped (5 s),
//! only image types, and only from the instance's own hosts: its Frontend
//! API host, Clerk's image host (`img.clerk.com`, where Clerk serves
//! `image_url`s: an assumption from Clerk's answers, not a documented
//! rule), or the local demo instance's own loopback origin. Any other URL
//! in an answer is not fetched (initials are shown): a user record must not
//! make the app call out to a host of someone's choosing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use latchkey_core::{Instance, InstanceKind};

use crate::state::lock;

/// Largest avatar accepted.
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub struct Avatars {
    /// URL → data URL (None: tried, failed; initials are shown).
    cache: Mutex<HashMap<String, Option<String>>>,
}

impl Avatars {
    pub fn get(&self, url: &str) -> Option<String> {
        lock(&self.cache).get(url).cloned().flatten()
    }

    pub fn known(&self, url: &str) -> bool {
        lock(&self.cache).contains_key(url)
    }

    pub fn put(&self, url: String, data: Option<String>) {
        lock(&self.cache).insert(url, data);
    }
}

/// Turns an image response into a `data:` URL, or None when it is not an
/// acceptable image.
pub fn data_url(content_type: &str, body: &[u8]) -> Option<String> {
    let mime = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let ok = matches!(
        mime.as_str(),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/svg+xml"
    );
    if !ok || body.is_empty() || body.len() > MAX_AVATAR_BYTES {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    Some(format!("data:{mime};base64,{b64}"))
}

/// Clerk's image host (an assumption: where Clerk's `image_url`s point).
pub const CLERK_IMAGE_HOST: &str = "img.clerk.com";

/// Whether an avatar URL is on one of the instance's own hosts.
pub fn allowed(instance: &Instance, url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let fapi = instance.frontend_api();
    match instance.kind() {
        InstanceKind::LocalDemo => u.origin() == fapi.origin(),
        InstanceKind::Clerk => {
            u.scheme() == "https"
                && u.port().is_none()
                && u.username().is_empty()
                && u.password().is_none()
                && u.host_str()
                    .is_some_and(|h| Some(h) == fapi.host_str() || h == CLERK_IMAGE_HOST)
        }
    }
}

/// Fetches one avatar (bounded in time and size).
pub async fn fetch(instance: &Instance, url: &str) -> Option<String> {
    if !allowed(instance, url) {
        return None;
    }
    // One client for every avatar: building one loads the system's trust
    // store, and a shared one keeps its connections.
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    let client = CLIENT
        .get_or_init(|| {
            latchkey_core::http_client_builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .ok()
        })
        .as_ref()?;
    let mut resp = client.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_AVATAR_BYTES as u64)
    {
        return None;
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_AVATAR_BYTES {
            return None;
        }
    }
    data_url(&ct, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatars_come_only_from_the_instances_own_hosts() {
        let clerk = Instance::from_publishable_key("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap();
        for ok in [
            "https://clerk.example.com/v1/avatars/a.png",
            "https://img.clerk.com/eyJ0eXBlIjoicHJveHki",
        ] {
            assert!(allowed(&clerk, ok), "{ok}");
        }
        for bad in [
            "http://img.clerk.com/x.png",
            "https://img.clerk.com:8443/x.png",
            "https://evil.example/x.png",
            "https://clerk.example.com.evil.example/x.png",
            "https://user@img.clerk.com/x.png",
            "https://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(!allowed(&clerk, bad), "{bad}");
        }
        let demo = Instance::local_demo("http://127.0.0.1:4000", "ins_1", "pk_test_x").unwrap();
        assert!(allowed(&demo, "http://127.0.0.1:4000/avatars/ada.svg"));
        for bad in [
            "http://127.0.0.1:4001/avatars/ada.svg",
            "http://localhost:4000/avatars/ada.svg",
            "https://img.clerk.com/x.png",
        ] {
            assert!(!allowed(&demo, bad), "{bad}");
        }
    }

    #[test]
    fn only_small_images_become_data_urls() {
        assert_eq!(
            data_url("image/svg+xml; charset=utf-8", b"<svg/>").as_deref(),
            Some("data:image/svg+xml;base64,PHN2Zy8+")
        );
        assert_eq!(data_url("text/html", b"<script>"), None);
        assert_eq!(data_url("image/png", &[]), None);
        assert_eq!(data_url("image/png", &vec![0; MAX_AVATAR_BYTES + 1]), None);
    }
}

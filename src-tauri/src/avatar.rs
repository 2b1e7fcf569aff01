//! Avatars, fetched by Rust and handed to the webview as `data:` URLs (the
//! CSP allows no remote origin). Size-capped; only image types; only from
//! https, or from the local demo instance's own loopback origin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use latchkey_core::Instance;

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

/// Fetches one avatar (bounded in time and size).
pub async fn fetch(instance: &Instance, url: &str) -> Option<String> {
    if !instance.is_openable_url(url) {
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

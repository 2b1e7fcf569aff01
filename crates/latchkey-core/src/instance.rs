//! Instances: where a Clerk Frontend API lives and which issuer to trust.
//!
//! Two kinds (docs/contracts.md):
//! - a **Clerk instance**, from a publishable key (`pk_test_…`/`pk_live_…`,
//!   validated the way Clerk's SDK validates it) → `https://<frontend api
//!   host>`; https only, and nothing (no environment variable, no option)
//!   overrides the URL;
//! - the **local demo instance** (the emulator): a loopback `http` URL and
//!   the emulator's instance id; its issuer and JWKS are trusted for that
//!   instance alone.
//!
//! Accounts are keyed by the instance's stable [`Instance::id`], never by
//! URL, so the demo instance can change port.

use base64::Engine;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// Which kind of instance this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceKind {
    /// A real Clerk instance (https).
    Clerk,
    /// The local demo instance (the emulator on loopback).
    LocalDemo,
}

/// A Clerk Frontend API the client may talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    id: String,
    kind: InstanceKind,
    fapi: Url,
    issuer: String,
    publishable_key: String,
    production: bool,
}

fn config(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Config, msg)
}

impl Instance {
    /// A Clerk instance from its publishable key.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the key is not a valid Clerk publishable
    /// key (prefix, shape, base64, `$` terminator, a host with a dot).
    pub fn from_publishable_key(key: &str) -> Result<Self> {
        let key = key.trim();
        let production = if key.starts_with("pk_live_") {
            true
        } else if key.starts_with("pk_test_") {
            false
        } else {
            return Err(config("a publishable key starts with pk_test_ or pk_live_"));
        };
        let parts: Vec<&str> = key.split('_').collect();
        if parts.len() != 3 || parts[2].is_empty() {
            return Err(config(
                "the publishable key is malformed (expected pk_test_<base64> or pk_live_<base64>)",
            ));
        }
        let encoded = parts[2].trim_end_matches('=');
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| config("the publishable key is not valid base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| config("the publishable key does not encode a host name"))?;
        let host = decoded
            .strip_suffix('$')
            .filter(|h| !h.contains('$') && h.contains('.'))
            .ok_or_else(|| config("the publishable key does not encode a Frontend API host"))?;
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':');
        if !valid_host {
            return Err(config("the publishable key encodes an invalid host name"));
        }
        // https only, always: Clerk's SDKs have no http mode either.
        let fapi = Url::parse(&format!("https://{host}"))
            .map_err(|_| config("the publishable key encodes an invalid host name"))?;
        if fapi.path() != "/" || fapi.query().is_some() {
            return Err(config("the publishable key encodes an invalid host name"));
        }
        let issuer = format!("https://{host}");
        Ok(Self {
            id: format!("clerk:{host}"),
            kind: InstanceKind::Clerk,
            fapi,
            issuer,
            publishable_key: key.to_owned(),
            production,
        })
    }

    /// The local demo instance: the emulator at a loopback `http` URL, with
    /// its instance id (`ins_…`) and publishable key.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a URL that is not `http://127.0.0.1:<port>`
    /// (or `[::1]`), or an instance id that is not `ins_…`.
    pub fn local_demo(
        frontend_api_url: &str,
        instance_id: &str,
        publishable_key: &str,
    ) -> Result<Self> {
        let fapi = Url::parse(frontend_api_url)
            .map_err(|_| config("the local instance URL is not a URL"))?;
        let loopback = matches!(fapi.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(fapi.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        if fapi.scheme() != "http" || !loopback || fapi.port().is_none() || fapi.path() != "/" {
            return Err(config(
                "the local demo instance must be http://127.0.0.1:<port>",
            ));
        }
        if !instance_id.starts_with("ins_") || instance_id.len() > 64 {
            return Err(config("the local demo instance id must be an ins_… id"));
        }
        let issuer = frontend_api_url.trim_end_matches('/').to_owned();
        Ok(Self {
            id: format!("local:{instance_id}"),
            kind: InstanceKind::LocalDemo,
            fapi,
            issuer,
            publishable_key: publishable_key.to_owned(),
            production: false,
        })
    }

    /// Stable id: `clerk:<host>` or `local:<ins_id>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Clerk instance or the local demo.
    pub fn kind(&self) -> InstanceKind {
        self.kind
    }

    /// The Frontend API base URL.
    pub fn frontend_api(&self) -> &Url {
        &self.fapi
    }

    /// The `iss` every token of this instance must carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The publishable key it was configured with.
    pub fn publishable_key(&self) -> &str {
        &self.publishable_key
    }

    /// `pk_live_` instance.
    pub fn is_production(&self) -> bool {
        self.production
    }

    /// `https://<fapi>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> Url {
        let mut u = self.fapi.clone();
        u.set_path("/.well-known/jwks.json");
        u
    }

    /// An endpoint URL under `/v1`.
    pub(crate) fn endpoint(&self, path: &str) -> Url {
        let mut u = self.fapi.clone();
        u.set_path(path);
        u
    }

    /// May a browser URL handed back by this instance be opened? https
    /// always; loopback http only for the local demo instance.
    pub fn is_openable_url(&self, url: &str) -> bool {
        let Ok(u) = Url::parse(url) else { return false };
        if !u.username().is_empty() || u.password().is_some() {
            return false;
        }
        match (u.scheme(), self.kind) {
            ("https", _) => u.host_str().is_some(),
            ("http", InstanceKind::LocalDemo) => {
                u.host() == self.fapi.host() && u.port() == self.fapi.port()
            }
            _ => false,
        }
    }

    /// Whether a loopback redirect (`http://127.0.0.1:<port>/callback`) is
    /// allowed as a sign-in fallback. Always for the local demo; for Clerk
    /// instances only if their allowlist has it, which Latchkey cannot see,
    /// so the app offers it as an explicit fallback there.
    pub fn loopback_redirect_known_allowed(&self) -> bool {
        self.kind == InstanceKind::LocalDemo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clerk_keys_decode_to_https_hosts() {
        let i = Instance::from_publishable_key(
            "pk_test_ZXhhbXBsZS1kZXN0aW5lZC1jYW1lbC0xMy5jbGVyay5hY2NvdW50cy5kZXYk",
        )
        .unwrap();
        assert_eq!(
            i.frontend_api().as_str(),
            "https://example-destined-camel-13.clerk.accounts.dev/"
        );
        assert_eq!(
            i.issuer(),
            "https://example-destined-camel-13.clerk.accounts.dev"
        );
        assert_eq!(i.id(), "clerk:example-destined-camel-13.clerk.accounts.dev");
        assert!(!i.is_production());
        let p = Instance::from_publishable_key("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap();
        assert_eq!(p.frontend_api().as_str(), "https://clerk.example.com/");
        assert!(p.is_production());
        // An emulator-style key is still https as a Clerk instance.
        let e = Instance::from_publishable_key("pk_test_MTI3LjAuMC4xOjg3ODck").unwrap();
        assert_eq!(e.frontend_api().scheme(), "https");
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        for bad in [
            "",
            "sk_test_abc",
            "pk_test_",
            "pk_test_!!!",
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20", // no $
            "pk_test_bG9jYWxob3N0OjMwMDAk",    // localhost:3000$ has no dot
            "pk_test_YS5iJGMk",                // a.b$c$: two $
            "pk_test_x_y",
            "pk_test_aHR0cHM6Ly9ldmlsLmNvbS94JA", // https://evil.com/x$
        ] {
            let e = Instance::from_publishable_key(bad).unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn local_demo_is_loopback_http_only() {
        let l = Instance::local_demo("http://127.0.0.1:4000", "ins_abc", "pk_test_x").unwrap();
        assert_eq!(l.kind(), InstanceKind::LocalDemo);
        assert_eq!(l.issuer(), "http://127.0.0.1:4000");
        assert_eq!(l.id(), "local:ins_abc");
        for bad in [
            "http://example.com:4000",
            "https://127.0.0.1:4000",
            "http://127.0.0.1",
            "http://10.0.0.1:80",
            "http://127.0.0.1:4000/x",
        ] {
            assert!(Instance::local_demo(bad, "ins_abc", "").is_err(), "{bad}");
        }
        assert!(Instance::local_demo("http://127.0.0.1:4000", "user_abc", "").is_err());
    }

    #[test]
    fn openable_urls() {
        let l = Instance::local_demo("http://127.0.0.1:4000", "ins_abc", "").unwrap();
        assert!(l.is_openable_url("http://127.0.0.1:4000/hosted/sign-in?attempt=x"));
        assert!(!l.is_openable_url("http://127.0.0.1:4001/x"));
        assert!(!l.is_openable_url("javascript:alert(1)"));
        let c = Instance::from_publishable_key("pk_live_Y2xlcmsuZXhhbXBsZS5jb20k").unwrap();
        assert!(c.is_openable_url("https://accounts.example.com/sign-in"));
        assert!(!c.is_openable_url("http://127.0.0.1:4000/hosted/sign-in"));
        assert!(!c.is_openable_url("file:///etc/passwd"));
    }
}

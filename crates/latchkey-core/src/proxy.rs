//! Which proxy Clerk traffic goes through: the system's proxy settings as
//! desktop sessions and shells export them (`HTTPS_PROXY`/`https_proxy`,
//! else `ALL_PROXY`/`all_proxy`; `NO_PROXY`/`no_proxy` lists hosts to reach
//! directly). Clerk's Frontend API is https-only, so `HTTP_PROXY` plays no
//! part. The local demo instance (and anything else on loopback) never goes
//! through a proxy: a proxy would at best fail to reach it and at worst see
//! its traffic.
//!
//! Latchkey decides this itself (reqwest's own environment lookup is turned
//! off) so that `latchkey doctor` shows exactly what the requests do.

use url::Url;

/// The proxy settings, read once from the environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// The proxy URL for https traffic, as given (it may hold a password:
    /// see [`ProxyEnv::describe`]).
    https: Option<String>,
    /// The `NO_PROXY` entries, lowercased, without leading dots.
    no_proxy: Vec<String>,
}

impl std::fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyEnv")
            .field("https", &self.https.as_deref().map(redact))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyEnv {
    /// From an environment lookup (`std::env::var`, or a test's table).
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|n| var(n))
                .map(|v| v.trim().to_owned())
                .find(|v| !v.is_empty())
        };
        let https = first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]);
        let no_proxy = first(&["NO_PROXY", "no_proxy"])
            .map(|v| {
                v.split(',')
                    .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Self { https, no_proxy }
    }

    /// This process's environment, read once.
    pub fn from_process() -> &'static ProxyEnv {
        static ENV: std::sync::OnceLock<ProxyEnv> = std::sync::OnceLock::new();
        ENV.get_or_init(|| Self::from_vars(&|k| std::env::var(k).ok()))
    }

    /// The proxy to use for `url`, if any.
    pub fn for_url(&self, url: &Url) -> Option<&str> {
        let proxy = self.https.as_deref()?;
        let host = url
            .host_str()?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if is_loopback(&host) || self.bypassed(&host) {
            return None;
        }
        Some(proxy)
    }

    fn bypassed(&self, host: &str) -> bool {
        self.no_proxy.iter().any(|e| {
            e == "*"
                || host == e
                || host
                    .strip_suffix(e.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }

    /// What requests to `url` go through, in words, with any password in
    /// the proxy URL redacted ("directly", "through http://proxy:3128",
    /// "directly (loopback is never proxied)").
    pub fn describe(&self, url: &Url) -> String {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        match (&self.https, self.for_url(url)) {
            (_, Some(p)) => format!("through the proxy {}", redact(p)),
            (Some(_), None) if is_loopback(&host) => {
                "directly (loopback is never proxied)".to_owned()
            }
            (Some(_), None) => "directly (NO_PROXY lists this host)".to_owned(),
            (None, None) => "directly (no proxy is set)".to_owned(),
        }
    }
}

/// `localhost`, `*.localhost`, 127.0.0.0/8 and ::1.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The proxy URL without user name or password (`http://***@proxy:3128`).
/// Something that does not parse as a URL is not shown at all.
fn redact(proxy: &str) -> String {
    match Url::parse(proxy) {
        Ok(mut u) => {
            let had_credentials = !u.username().is_empty() || u.password().is_some();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let s = u.as_str().trim_end_matches('/').to_owned();
            if had_credentials {
                s.replacen("://", "://***@", 1)
            } else {
                s
            }
        }
        Err(_) => "(a proxy setting that is not a URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxyEnv::from_vars(&move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_proxy_applies_to_clerk_and_never_to_loopback() {
        let e = env(&[("HTTPS_PROXY", "http://proxy.corp:3128")]);
        assert_eq!(
            e.for_url(&url("https://clerk.example.com/v1/client")),
            Some("http://proxy.corp:3128")
        );
        for u in [
            "http://127.0.0.1:4000/",
            "http://127.9.9.9/",
            "http://localhost:1/",
            "http://demo.localhost/",
            "http://[::1]:80/",
        ] {
            assert_eq!(e.for_url(&url(u)), None, "{u}");
            assert_eq!(e.describe(&url(u)), "directly (loopback is never proxied)");
        }
        assert_eq!(
            e.describe(&url("https://clerk.example.com/")),
            "through the proxy http://proxy.corp:3128"
        );
    }

    #[test]
    fn the_upper_case_name_wins_then_all_proxy() {
        let e = env(&[
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:1"),
        ]);
        assert_eq!(e.for_url(&url("https://a.b/")), Some("http://upper:1"));
        let e = env(&[
            ("ALL_PROXY", "socks5://all:1080"),
            ("HTTP_PROXY", "http://plain:1"),
        ]);
        assert_eq!(e.for_url(&url("https://a.b/")), Some("socks5://all:1080"));
        let e = env(&[("HTTP_PROXY", "http://plain:1"), ("HTTPS_PROXY", "  ")]);
        assert_eq!(
            e.for_url(&url("https://a.b/")),
            None,
            "HTTP_PROXY is not for https"
        );
        assert_eq!(
            e.describe(&url("https://a.b/")),
            "directly (no proxy is set)"
        );
    }

    #[test]
    fn no_proxy_matches_hosts_and_their_subdomains_only() {
        let e = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", " .example.com, clerk.internal ,,"),
        ]);
        assert_eq!(e.for_url(&url("https://example.com/")), None);
        assert_eq!(e.for_url(&url("https://clerk.Example.com/")), None);
        assert_eq!(e.for_url(&url("https://clerk.internal/")), None);
        assert_eq!(
            e.for_url(&url("https://notexample.com/")),
            Some("http://p:1")
        );
        assert_eq!(
            e.for_url(&url("https://x.clerk.internal.evil/")),
            Some("http://p:1")
        );
        assert_eq!(
            e.describe(&url("https://example.com/")),
            "directly (NO_PROXY lists this host)"
        );
        let all = env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]);
        assert_eq!(all.for_url(&url("https://clerk.example.com/")), None);
    }

    #[test]
    fn a_password_in_the_proxy_url_is_never_shown() {
        let e = env(&[("HTTPS_PROXY", "http://ada:s3cret-pass@proxy:3128")]);
        let d = e.describe(&url("https://clerk.example.com/"));
        assert_eq!(d, "through the proxy http://***@proxy:3128");
        assert!(!format!("{e:?}").contains("s3cret"), "{e:?}");
        let junk = env(&[("HTTPS_PROXY", "not a url s3cret")]);
        assert!(!junk.describe(&url("https://c.d/")).contains("s3cret"));
    }
}

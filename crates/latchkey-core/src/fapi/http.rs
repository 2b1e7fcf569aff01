//! The HTTP side of the Frontend API client: the HTTP client every call
//! uses (TLS with rustls' ring provider, timeouts, no redirects), transport
//! errors (never printing a URL), capped body reading, and the
//! classification of an answer into a value or a typed error.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    Answer, CONNECT_TIMEOUT, MAX_BODY, MAX_JWT, RETRY_AFTER_MAX, RETRY_AFTER_MIN, Scope, user_agent,
};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::Instance;
use crate::secret::SessionToken;

pub(super) fn transport_error(e: reqwest::Error) -> Error {
    // reqwest's Display can include the URL; never print it (query strings
    // may carry nonces or verifiers). The error is kept as the source for
    // logs only without its URL.
    let (kind, message) = transport_kind(&e);
    Error::new(kind, message).with_source(e.without_url())
}

fn transport_kind(e: &reqwest::Error) -> (ErrorKind, &'static str) {
    if e.is_timeout() {
        (
            ErrorKind::Timeout,
            "the Clerk Frontend API did not answer in time",
        )
    } else if e.is_redirect() {
        (
            ErrorKind::Protocol,
            "the Clerk Frontend API answered with a redirect, which is not followed",
        )
    } else if certificate_refused(e) {
        (
            ErrorKind::Network,
            "could not reach the Clerk Frontend API: its TLS certificate is not trusted \
             by this system (a proxy that intercepts HTTPS needs its certificate \
             installed)",
        )
    } else {
        (ErrorKind::Network, "could not reach the Clerk Frontend API")
    }
}

/// Whether a transport error is rustls refusing the server's certificate.
/// The rustls error sits in the source chain inside (nested) `io::Error`s,
/// whose `source()` skips the wrapped error itself, so those are opened.
fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    // Bounded: a source chain is a handful of links.
    for _ in 0..16 {
        let Some(err) = cur else { return false };
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_)
            );
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _).or(err.source()),
            None => err.source(),
        };
    }
    false
}

/// Parses `Retry-After` (delta-seconds or HTTP-date), clamped; garbage or
/// negative values give `None` (callers fall back to backoff).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(at) = httpdate::parse_http_date(v) {
        at.duration_since(now).unwrap_or(Duration::ZERO)
    } else {
        return None;
    };
    Some(d.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX))
}

/// A `reqwest` client builder with TLS ready: installs rustls' `ring`
/// provider as the process default the first time (reqwest is built with
/// `rustls-no-provider`, which panics in `build()` without one). Every HTTP
/// client in Latchkey — the app's avatar fetches and the tests' clients too —
/// starts here.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Err means another provider is already the default: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// The HTTP client for an instance: Latchkey's User-Agent, timeouts, no
/// redirects. A Clerk instance is https-only with the system's roots; the
/// local demo instance is plain http on loopback, so it trusts no
/// certificate at all (which also skips loading the system store, ≈ 3–10 ms
/// per process). Proxies: [`crate::proxy::ProxyEnv`] decides (never for
/// loopback).
pub(crate) fn http_client(
    instance: &Instance,
    total: Duration,
    proxy: &crate::proxy::ProxyEnv,
) -> Result<reqwest::Client> {
    let clerk = instance.kind() == crate::instance::InstanceKind::Clerk;
    let mut b = http_client_builder()
        .user_agent(user_agent())
        .connect_timeout(CONNECT_TIMEOUT.min(total))
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .https_only(clerk);
    if !clerk {
        b = b.tls_certs_only(Vec::<reqwest::Certificate>::new());
    }
    // reqwest's own environment lookup is off: the decision is ours, and
    // the same one `latchkey doctor` reports.
    b = b.no_proxy();
    if let Some(p) = proxy.for_url(instance.frontend_api()) {
        let p = reqwest::Proxy::all(p).map_err(|_| {
            Error::new(
                ErrorKind::Config,
                "the proxy setting (HTTPS_PROXY or ALL_PROXY) is not a proxy URL Latchkey can use",
            )
        })?;
        b = b.proxy(p);
    }
    b.build()
        .map_err(|_| Error::new(ErrorKind::Config, "could not set up the HTTP client"))
}

/// A path segment must be a plain id (no `/`, `?`, `#`, `..`).
pub(super) fn seg(s: &str) -> Result<&str> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(s)
    } else {
        Err(Error::new(ErrorKind::Config, "not a valid Clerk id"))
    }
}

pub(super) fn protocol(msg: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("unexpected answer from the Clerk Frontend API: {msg}"),
    )
}

/// Parses `v` (found at `at` in the answer: `response`, `client`, or `""`
/// for the whole body) as `T`. A failure is a protocol error whose message
/// and log line name the JSON path that failed and what was wrong with it,
/// never the value found there (it may be a token).
pub(super) fn decode<T: DeserializeOwned>(v: Value, at: &str) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (at, inner.as_str()) {
            ("", p) => p.to_owned(),
            (a, ".") => a.to_owned(),
            (a, p) => format!("{a}.{p}"),
        };
        let what = without_values(&e.into_inner().to_string());
        tracing::warn!(
            path = %path,
            "unexpected answer from the Clerk Frontend API: {what}"
        );
        protocol(&format!("{what} at `{path}`"))
    })
}

/// A serde message with the string values it quotes taken out: `invalid
/// type: string "…", expected a map` keeps the shape of the mistake, not the
/// data. Field names (in backticks) stay.
pub(super) fn without_values(msg: &str) -> String {
    let msg = msg.split(" at line").next().unwrap_or(msg);
    let mut out = String::with_capacity(msg.len());
    let mut quoted = false;
    let mut escaped = false;
    for c in msg.chars() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
        } else if c == '"' {
            out.push_str("\"…\"");
            quoted = true;
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn check_jwt_shape(jwt: String) -> Result<SessionToken> {
    let ok = jwt.len() <= MAX_JWT
        && jwt.split('.').count() == 3
        && jwt
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(SessionToken::new(jwt))
    } else {
        Err(protocol("the token is not a compact JWT"))
    }
}

pub(super) async fn read_capped(mut res: reqwest::Response) -> Result<Vec<u8>> {
    if res.content_length().is_some_and(|n| n as usize > MAX_BODY) {
        return Err(protocol("the answer is larger than 1 MiB"));
    }
    let mut body = Vec::new();
    loop {
        match res.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_BODY {
                    return Err(protocol("the answer is larger than 1 MiB"));
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(transport_error(e)),
        }
    }
}

/// Turns an HTTP answer into a value or a typed error.
pub(super) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    scope: Scope,
) -> Result<Answer> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    let json: Option<Value> = if is_json {
        serde_json::from_slice(body).ok()
    } else {
        None
    };
    if status.is_success() {
        return match json {
            Some(body) => Ok(Answer { body }),
            None if is_json => Err(protocol("the JSON is malformed or truncated")),
            None => Err(protocol(
                "the answer is not JSON (a captive portal or proxy?)",
            )),
        };
    }
    if status.is_redirection() {
        return Err(protocol("a redirect, which is not followed"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        // An HTTP-date is the server's time: it is measured from the
        // answer's own `Date` (so a skewed local clock does not stretch or
        // cut the wait), from ours only when the answer has none.
        let server_now = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .unwrap_or_else(std::time::SystemTime::now);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, server_now));
        return Err(Error::new(
            ErrorKind::RateLimited { retry_after },
            "Clerk is rate limiting requests; try again shortly",
        ));
    }
    if status.is_server_error() {
        return Err(Error::new(
            ErrorKind::Server,
            format!(
                "the Clerk Frontend API had a server error ({})",
                status.as_u16()
            ),
        ));
    }
    let first = json
        .as_ref()
        .and_then(|j| j.get("errors"))
        .and_then(|e| e.get(0));
    let Some(err) = first else {
        return Err(protocol(&format!(
            "status {} without a Clerk error",
            status.as_u16()
        )));
    };
    let code = err
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let long = err
        .get("long_message")
        .or_else(|| err.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the request was refused");
    let meta = err.get("meta");
    let param = meta
        .and_then(|m| m.get("param_name"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let session_id = meta
        .and_then(|m| m.get("session_id"))
        .and_then(Value::as_str)
        .filter(|s| seg(s).is_ok())
        .map(str::to_owned);
    // Clerk's messages are fixed texts about the request; cap the length.
    let long: String = long.chars().take(300).collect();
    let kind = match (status.as_u16(), code.as_str(), scope) {
        (403, "session_reverification_required", _) => ErrorKind::ReverificationRequired,
        (404, "resource_not_found", Scope::Session) => ErrorKind::SessionGone,
        (401, "signed_out", Scope::Session) => ErrorKind::SessionGone,
        (401, _, _) => ErrorKind::Unauthenticated,
        (403, "user_banned" | "user_deactivated" | "user_locked", _) => ErrorKind::Unauthenticated,
        _ => ErrorKind::InvalidRequest {
            code: code.clone(),
            param,
            session_id,
        },
    };
    Err(Error::new(
        kind,
        format!("Clerk refused the request ({code}): {long}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_000); // 2015-10-21 07:20 UTC
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("0", now),
            Some(Duration::from_secs(1)),
            "clamped up"
        );
        assert_eq!(
            parse_retry_after("99999999", now),
            Some(Duration::from_secs(600)),
            "clamped down"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(480))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("abc", now), None);
        assert_eq!(parse_retry_after("", SystemTime::now()), None);
    }

    #[test]
    fn user_agent_names_latchkey() {
        let ua = user_agent();
        assert!(ua.starts_with("Latchkey/"), "{ua}");
        assert!(ua.contains("; "), "{ua}");
    }

    #[test]
    fn parse_errors_name_the_path_and_never_the_value() {
        #[derive(Debug, serde::Deserialize)]
        struct Inner {
            #[allow(dead_code)]
            id: u64,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Outer {
            #[allow(dead_code)]
            items: Vec<Inner>,
        }
        let v = serde_json::json!({"items": [{"id": 1}, {"id": "eyJsecret.value.here"}]});
        let e = decode::<Outer>(v, "response").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`response.items[1].id`"), "{msg}");
        assert!(!msg.contains("eyJsecret"), "{msg}");
        assert_eq!(e.kind(), &ErrorKind::Protocol);
        let e = decode::<Outer>(serde_json::json!({}), "").unwrap_err();
        assert!(e.to_string().contains("missing field `items`"), "{e}");
        assert_eq!(
            without_values(r#"invalid type: string "a\"b", expected u64"#),
            r#"invalid type: string "…", expected u64"#
        );
    }

    #[test]
    fn ids_in_paths_are_plain() {
        assert!(seg("sess_abc123").is_ok());
        for bad in ["", "../x", "a/b", "a?b", "a#b", "sess x", &"a".repeat(129)] {
            assert!(seg(bad).is_err(), "{bad}");
        }
    }
}

/// Hostile answers, generated: every status with every body shape through
/// [`classify`], and JSON trees built from Clerk's own field names through
/// [`decode`] into every model the client reads. Nothing panics, and a
/// canary string placed in the answer's values never reaches an error
/// message (only Clerk's own error `code` and `long_message` are quoted, by
/// design). `LATCHKEY_FUZZ_CASES` sets the count (2,000 here; `make proof`:
/// 100,000).
#[cfg(test)]
mod properties {
    use super::*;
    use crate::models::*;
    use proptest::prelude::*;
    use serde_json::{Map, json};

    const CANARY: &str = "CANARYsecret";

    fn cases() -> u32 {
        std::env::var("LATCHKEY_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000)
    }

    /// Keys Clerk's answers use, so generated trees reach deep into the
    /// models instead of failing at the first field.
    const KEYS: &[&str] = &[
        "id",
        "object",
        "status",
        "sessions",
        "user",
        "last_active_session_id",
        "expire_at",
        "abandon_at",
        "created_at",
        "updated_at",
        "last_active_at",
        "email_addresses",
        "email_address",
        "first_name",
        "last_name",
        "public_user_data",
        "identifier",
        "jwt",
        "organization_memberships",
        "organization",
        "role",
        "tasks",
        "key",
        "latest_activity",
        "browser_name",
        "device_type",
        "city",
        "country",
        "is_mobile",
        "auth_config",
        "display_config",
        "user_settings",
        "social",
        "strategy",
        "strategies",
        "first_factor_verification",
        "actor",
        "last_active_organization_id",
        "image_url",
        "has_image",
        "response",
        "client",
        "errors",
        "code",
        "meta",
        "primary_email_address_id",
        "application_name",
        "single_session_mode",
        "attributes",
        "enabled",
        "required",
        "name",
        "slug",
        "permissions",
        "supported_first_factors",
        "created_session_id",
        "verifications",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            Just(json!(u64::MAX)),
            Just(json!(CANARY)),
            Just(json!(format!("sess_{CANARY}"))),
            Just(json!(format!("eyJ{CANARY}.x.y"))),
            prop::sample::select(vec![
                "active",
                "ended",
                "pending",
                "revoked",
                "removed",
                "expired",
                "abandoned",
                "client",
                "session",
                "user",
                "token",
                "sign_in",
                "needs_first_factor",
                "complete",
                "org:admin",
                "choose-organization",
                "",
            ])
            .prop_map(|s| json!(s)),
            "[ -~]{0,12}".prop_map(|s| json!(format!("{s}{CANARY}"))),
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(5, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..10)
                    .prop_map(|kv| {
                        Value::Object(
                            kv.into_iter()
                                .map(|(k, v)| (k.to_owned(), v))
                                .collect::<Map<String, Value>>(),
                        )
                    }),
            ]
        })
    }

    fn clean(msg: &str) -> bool {
        !msg.contains(CANARY)
    }

    fn decodes<T: DeserializeOwned>(v: &Value) -> std::result::Result<(), String> {
        match decode::<T>(v.clone(), "response") {
            Err(e) if !clean(&e.to_string()) => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    /// What `classify` may quote: Clerk's first error's code and message.
    fn quoted_by_design(body: &[u8]) -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        let e = &v["errors"][0];
        ["code", "long_message", "message"]
            .iter()
            .any(|k| e[k].as_str().is_some_and(|s| s.contains(CANARY)))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn property_every_model_decodes_hostile_json_without_quoting_it(v in tree()) {
            for (name, r) in [
                ("Client", decodes::<Client>(&v)),
                ("Session", decodes::<Session>(&v)),
                ("User", decodes::<User>(&v)),
                ("Environment", decodes::<Environment>(&v)),
                ("SignIn", decodes::<SignIn>(&v)),
                ("SignUp", decodes::<SignUp>(&v)),
                ("TokenObject", decodes::<TokenObject>(&v)),
                ("OrganizationMembership", decodes::<OrganizationMembership>(&v)),
                ("SessionWithActivities", decodes::<SessionWithActivities>(&v)),
                ("Vec<SessionWithActivities>", decodes::<Vec<SessionWithActivities>>(&v)),
                ("Option<Client>", decodes::<Option<Client>>(&v)),
            ] {
                prop_assert!(r.is_ok(), "{name}: a value reached the error: {:?}", r);
            }
        }

        #[test]
        fn property_classify_takes_any_answer_and_quotes_only_clerks_error(
            status in 100u16..600,
            content_type in prop::sample::select(vec![
                "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                "text/html", "text/plain", "", "application/jsonx",
            ]),
            body in prop_oneof![
                tree().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
                tree().prop_map(|v| json!({ "errors": [v], "meta": {} }).to_string().into_bytes()),
                tree().prop_map(|v| json!({ "response": v, "client": null }).to_string().into_bytes()),
                prop::collection::vec(any::<u8>(), 0..256),
            ],
            retry_after in prop::option::of("[ -~]{0,30}"),
            session_scope in any::<bool>(),
        ) {
            let Ok(status) = StatusCode::from_u16(status) else { return Ok(()) };
            let mut headers = HeaderMap::new();
            if let Ok(v) = content_type.parse() {
                headers.insert(CONTENT_TYPE, v);
            }
            if let Some(ra) = retry_after.and_then(|r| r.parse().ok()) {
                headers.insert(RETRY_AFTER, ra);
            }
            let scope = if session_scope { Scope::Session } else { Scope::Other };
            match classify(status, &headers, &body, scope) {
                Ok(a) => {
                    prop_assert!(status.is_success());
                    prop_assert!(!a.body.is_null() || body.starts_with(b"null") || body.iter().any(|b| !b.is_ascii_whitespace()));
                }
                Err(e) => {
                    let msg = e.to_string();
                    prop_assert!(msg.chars().count() <= 400, "an unbounded message: {} chars", msg.len());
                    prop_assert!(clean(&msg) || quoted_by_design(&body), "{msg}");
                    if let Some(d) = e.retry_after() {
                        prop_assert!((RETRY_AFTER_MIN..=RETRY_AFTER_MAX).contains(&d));
                    }
                    // Only an addressed session's own "gone" signs out.
                    if matches!(e.kind(), ErrorKind::SessionGone) {
                        prop_assert!(session_scope && matches!(status.as_u16(), 401 | 404));
                    }
                }
            }
        }
    }
}

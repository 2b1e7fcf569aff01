//! The request prelude: everything Clerk does before routing.
//!
//! Runs around the whole router (not as a route layer) because `_method`
//! can change the HTTP method, which must happen before routing:
//! - reads the query and, for form posts, the body (capped at 64 KiB);
//! - applies `_method` from the query or the form (POST only);
//! - checks `__clerk_api_version` / `Clerk-API-Version`;
//! - checks the native-mode headers (`_is_native`, `Authorization`,
//!   `Origin`) and extracts the client credential;
//! - with `test-controls`: applies injected faults and records the request.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// Largest form body the emulator reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Ordered key/value pairs from a query string or a form body.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    fn parse(s: &str) -> Self {
        Params(
            url::form_urlencoded::parse(s.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the prelude learnt about a FAPI request.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    pub query: Params,
    pub form: Params,
    /// The client credential from `Authorization` (native mode only).
    pub credential: Option<String>,
    pub origin: Option<String>,
    pub ip: String,
    pub user_agent: Option<String>,
}

impl Ctx {
    /// A parameter from the form body, else the query string.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form.get(name).or_else(|| self.query.get(name))
    }

    /// A parameter that must be present and non-empty.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.param(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::param_missing(name)),
        }
    }
}

/// Clerk's answers carry its time in `Date` (injected faults too); clients
/// estimate their clock skew from it and read an HTTP-date `Retry-After`
/// against it. The emulator's clock can be moved (test controls), so `Date`
/// is set from that clock rather than by the HTTP library.
fn with_date(state: &AppState, mut res: Response) -> Response {
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(state.clock.now_system()))
    {
        res.headers_mut().insert(header::DATE, v);
    }
    res
}

pub(crate) async fn prelude(State(state): State<AppState>, req: Request, next: Next) -> Response {
    #[cfg(feature = "test-controls")]
    let mut record = crate::controls::RequestRecord::start(&state, &req);
    #[cfg(feature = "test-controls")]
    let fault = state.controls.take_fault(req.method(), req.uri().path());
    #[cfg(feature = "test-controls")]
    if let Some(f) = &fault {
        record.note_fault(f);
    }
    #[cfg(feature = "test-controls")]
    if let Some(f) = &fault
        && let Some(early) = f.before().await
    {
        record.finish(&state, early.status());
        return with_date(&state, early);
    }
    #[cfg(feature = "test-controls")]
    let req = {
        let mut req = req;
        if let Some(f) = &fault {
            f.mark(&mut req);
        }
        req
    };

    let res = match guard(&state, &req) {
        Ok(()) => match prepare(&state, req).await {
            Ok(req) => next.run(req).await,
            Err(e) => e.into_response(),
        },
        Err(e) => e.into_response(),
    };

    let res = with_date(&state, res);
    #[cfg(feature = "test-controls")]
    let res = match fault {
        Some(f) => f.after(res).await,
        None => res,
    };
    #[cfg(feature = "test-controls")]
    record.finish(&state, res.status());
    res
}

/// Requests this server refuses before anything else:
/// - on loopback, a `Host` that is not its own (`127.0.0.1:<port>` or
///   `localhost:<port>`): a web page whose name resolves to 127.0.0.1 (DNS
///   rebinding) must not reach the local Clerk. Requests without `Host`
///   (not from a browser) pass.
/// - a form post to the HTML pages (`/hosted`, `/demo`, `/oauth`) from
///   another origin: a web page must not submit the sign-in forms.
fn guard(state: &crate::state::Inner, req: &Request) -> Result<(), ApiError> {
    let headers = req.headers();
    if let Some(own) = &state.settings.own_hosts
        && let Some(host) = headers.get(header::HOST)
    {
        let host = host.to_str().unwrap_or("").to_ascii_lowercase();
        if !own.contains(&host) {
            return Err(ApiError::new(
                axum::http::StatusCode::MISDIRECTED_REQUEST,
                "host_invalid",
                "Unknown host",
                "This server answers only for its own loopback address",
            ));
        }
    }
    let path = req.uri().path();
    let page = ["/hosted/", "/demo", "/oauth/"]
        .iter()
        .any(|p| path.starts_with(p));
    if page && req.method() == Method::POST {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let own_origin = |o: &str| {
            o == state.base_url
                || state
                    .settings
                    .own_hosts
                    .as_ref()
                    .is_some_and(|hs| hs.iter().any(|h| o == format!("http://{h}")))
        };
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == "cross-site");
        if origin.is_some_and(|o| !own_origin(o)) || (origin.is_none() && cross_site) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "origin_invalid",
                "Cross-origin form post",
                "These pages accept forms only from themselves",
            ));
        }
    }
    Ok(())
}

async fn prepare(state: &AppState, req: Request) -> Result<Request, ApiError> {
    let path = req.uri().path();
    if !path.starts_with("/v1/") {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let query = Params::parse(parts.uri.query().unwrap_or(""));
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (form, body) = if is_form && parts.method == Method::POST {
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "request_body_too_large",
                    "Request body too large",
                    "The request body is larger than the server accepts",
                )
            })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            ApiError::param_format_invalid("body", "The request body is not valid UTF-8")
        })?;
        (Params::parse(text), Body::from(bytes))
    } else {
        (Params::default(), body)
    };

    // `_method` override: clerk-js sends POST + `_method=DELETE|PUT|PATCH` in
    // the query; hosted-auth redemption sends `_method=GET` in the form.
    if parts.method == Method::POST
        && let Some(m) = form.get("_method").or_else(|| query.get("_method"))
    {
        parts.method = match m.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            "DELETE" => Method::DELETE,
            "POST" => Method::POST,
            _ => {
                return Err(ApiError::param_invalid(
                    "_method",
                    "_method must be one of GET, PUT, PATCH, DELETE",
                ));
            }
        };
    }

    check_api_version(&query, &parts.headers)?;

    let native = matches!(query.get("_is_native"), Some("1") | Some("true"));
    let auth_values: Vec<_> = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .collect();
    if auth_values.len() > 1 {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "multiple_authorization_header_values_forbidden",
            "Multiple Authorization header values",
            "Multiple values for the Authorization header are not allowed",
        ));
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut credential = None;
    if !native {
        // Browser mode: the credential is the `__client` cookie.
        credential = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("__client=").map(str::to_owned))
            .filter(|c| !c.is_empty());
    } else {
        if !state.settings.native_api_enabled {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "native_api_disabled",
                "Native API disabled",
                "The Native API is disabled for this instance. Enable it in the Clerk Dashboard under Native applications.",
            ));
        }
        if let Some(v) = auth_values.first() {
            if origin.is_some() {
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "origin_authorization_headers_conflict",
                    "Origin and Authorization headers conflict",
                    "The Origin and Authorization headers cannot be sent together",
                ));
            }
            let raw = v
                .to_str()
                .map_err(|_| ApiError::authentication_invalid())?
                .trim();
            let raw = raw
                .strip_prefix("Bearer ")
                .or_else(|| raw.strip_prefix("bearer "))
                .unwrap_or(if raw.eq_ignore_ascii_case("bearer") {
                    ""
                } else {
                    raw
                })
                .trim();
            if !raw.is_empty() {
                credential = Some(raw.to_owned());
            }
        }
    }
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    parts.extensions.insert(Ctx {
        query,
        form,
        credential,
        origin,
        ip,
        user_agent,
    });
    Ok(Request::from_parts(parts, body))
}

/// `__clerk_api_version` (query) or `Clerk-API-Version` (header), not both;
/// the value must be a real `YYYY-MM-DD` date.
fn check_api_version(query: &Params, headers: &HeaderMap) -> Result<(), ApiError> {
    let q = query.get("__clerk_api_version");
    let h = headers.get("clerk-api-version");
    let value = match (q, h) {
        (Some(_), Some(_)) => {
            return Err(ApiError::api_version_invalid(
                "Send the API version either as the __clerk_api_version query parameter or as the Clerk-API-Version header, not both",
            ));
        }
        (Some(q), None) => q.to_owned(),
        (None, Some(h)) => h
            .to_str()
            .map_err(|_| ApiError::api_version_invalid("The API version is not a valid date"))?
            .to_owned(),
        (None, None) => return Ok(()),
    };
    if is_valid_date(&value) {
        Ok(())
    } else {
        Err(ApiError::api_version_invalid(format!(
            "{value:?} is not a valid API version; use a release date like 2026-05-12"
        )))
    }
}

pub(crate) fn is_valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))?
            .parse::<u32>()
            .ok()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 2020 && d >= 1 && d <= days
}

#[cfg(test)]
mod tests {
    use super::is_valid_date;

    #[test]
    fn api_version_dates() {
        for ok in ["2026-05-12", "2024-02-29", "2025-04-10"] {
            assert!(is_valid_date(ok), "{ok}");
        }
        for bad in [
            "2026-5-12",
            "2026-13-01",
            "2025-02-29",
            "20260512",
            "abcd-ef-gh",
            "",
            "2026-05-12x",
            "1999-01-01",
        ] {
            assert!(!is_valid_date(bad), "{bad}");
        }
    }
}

//! Test controls (cargo feature `test-controls`): fault injection, the
//! clock, and a request log. Reachable in-process through
//! [`crate::EmulatorHandle`] and over HTTP under `/__emulator/*` (secret key
//! required), so other test suites and the CLI can script them too.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// Most requests kept in the log (oldest dropped first).
const MAX_LOG: usize = 100_000;

/// One fault rule: which requests it hits, what it does, how often.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    /// HTTP method as sent (`POST` for `_method` overrides); any if absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path pattern; `*` matches one path segment
    /// (`/v1/client/sessions/*/tokens`).
    pub path: String,
    /// What to do instead of (or around) the real answer.
    pub action: FaultAction,
    /// Only the next N matching requests; every one if absent.
    #[serde(default)]
    pub times: Option<u32>,
    /// Only this fraction (0..=1) of matching requests.
    #[serde(default)]
    pub probability: Option<f64>,
}

impl FaultRule {
    /// A rule hitting `path` (any method) every time.
    pub fn new(path: &str, action: FaultAction) -> Self {
        Self {
            method: None,
            path: path.to_owned(),
            action,
            times: None,
            probability: None,
        }
    }

    /// Limits the rule to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Limits the rule to one HTTP method.
    pub fn method(mut self, m: &str) -> Self {
        self.method = Some(m.to_owned());
        self
    }

    /// Applies the rule to a fraction of matching requests.
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = Some(p);
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method.as_str())
        {
            return false;
        }
        let pat: Vec<&str> = self.path.trim_end_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        pat.len() == got.len() && pat.iter().zip(&got).all(|(p, g)| *p == "*" || p == g)
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// An error status with a Clerk error body; `retry_after` is sent
    /// verbatim (seconds, an HTTP date, or garbage).
    Status {
        /// The HTTP status (429, 500, …).
        status: u16,
        /// The Clerk error code in the body.
        code: String,
        /// The `Retry-After` header, sent as given.
        #[serde(default)]
        retry_after: Option<String>,
    },
    /// 200 with an HTML page (a captive portal).
    Html200,
    /// 200 with bytes that are not JSON.
    Garbage200,
    /// 200 with this JSON body instead of the real one (a response from a
    /// later Clerk: extra fields, new enum values, nulls).
    Json200 {
        /// The body to send.
        body: serde_json::Value,
    },
    /// The real response with its body cut in half.
    TruncatedJson,
    /// Wait, then answer normally.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// The real response, its body sent a few bytes per second.
    Trickle {
        /// Body bytes per second.
        bytes_per_sec: u32,
    },
    /// Headers, then the connection is dropped mid-body.
    Drop,
    /// A token endpoint answers a token minted `secs` seconds in the past
    /// (already expired when `secs` exceeds the token lifetime): a replayed
    /// or stale cached token.
    StaleToken {
        /// How far in the past it was minted.
        secs: u64,
    },
}

impl FaultAction {
    /// A short name for the request log: the `kind`, with the status for
    /// [`FaultAction::Status`].
    pub fn label(&self) -> String {
        match self {
            FaultAction::Status { status, .. } => format!("status {status}"),
            FaultAction::Html200 => "html_200".into(),
            FaultAction::Garbage200 => "garbage_200".into(),
            FaultAction::Json200 { .. } => "json_200".into(),
            FaultAction::TruncatedJson => "truncated_json".into(),
            FaultAction::Delay { .. } => "delay".into(),
            FaultAction::Trickle { .. } => "trickle".into(),
            FaultAction::Drop => "drop".into(),
            FaultAction::StaleToken { .. } => "stale_token".into(),
        }
    }
}

/// Marks a request whose token must be minted in the past
/// ([`FaultAction::StaleToken`]); read by the token handlers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StaleToken(pub u64);

/// A fault chosen for one request.
pub(crate) struct Fault(FaultAction);

impl Fault {
    /// Runs before the handler; `Some` answers the request instead.
    pub async fn before(&self) -> Option<Response> {
        match &self.0 {
            FaultAction::Status { status, code, retry_after } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut res = ApiError::with_code(status, code.clone(), "Injected fault", "An error injected by the emulator's test controls").into_response();
                if let Some(ra) = retry_after
                    && let Ok(v) = ra.parse() {
                        res.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                Some(res)
            }
            FaultAction::Html200 => Some(
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<!doctype html><html><body><h1>Wi-Fi sign-in</h1><p>Accept the terms to continue.</p></body></html>").into_response(),
            ),
            FaultAction::Garbage200 => Some(([(header::CONTENT_TYPE, "application/json")], "\u{1}\u{2}not json at all").into_response()),
            FaultAction::Json200 { body } => Some(axum::Json(body.clone()).into_response()),
            FaultAction::Delay { ms } => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                None
            }
            FaultAction::Drop => {
                let stream = futures_util::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped by fault injection")) });
                Some(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
            }
            FaultAction::TruncatedJson
            | FaultAction::Trickle { .. }
            | FaultAction::StaleToken { .. } => None,
        }
    }

    /// What the handler must know of this fault (a stale token to mint).
    pub fn mark(&self, req: &mut axum::extract::Request) {
        if let FaultAction::StaleToken { secs } = self.0 {
            req.extensions_mut().insert(StaleToken(secs));
        }
    }

    /// Runs on the handler's response.
    pub async fn after(&self, res: Response) -> Response {
        match &self.0 {
            FaultAction::TruncatedJson => {
                let (mut parts, body) = res.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let cut = bytes.len() / 2;
                parts.headers.remove(header::CONTENT_LENGTH);
                Response::from_parts(parts, Body::from(bytes.slice(..cut)))
            }
            FaultAction::Trickle { bytes_per_sec } => {
                let (mut parts, body) = res.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let rate = (*bytes_per_sec).max(1) as usize;
                parts.headers.remove(header::CONTENT_LENGTH);
                let chunks: Vec<Bytes> = bytes.chunks(rate).map(Bytes::copy_from_slice).collect();
                let stream =
                    futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
                        let next = it.next()?;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Some((Ok::<Bytes, std::io::Error>(next), it))
                    });
                Response::from_parts(parts, Body::from_stream(stream))
            }
            _ => res,
        }
    }
}

/// One logged request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// The emulator's clock when it arrived (ms).
    pub at_ms: i64,
    /// The method as sent (before any `_method` override).
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Lower-case header names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    /// The status answered.
    pub status: u16,
    /// The fault injected into this request, if any (its `kind`, e.g.
    /// `status 503`, `drop`).
    #[serde(default)]
    pub fault: Option<String>,
}

impl LoggedRequest {
    /// A query parameter's value.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

pub(crate) struct RequestRecord(Option<LoggedRequest>);

impl RequestRecord {
    pub fn start(state: &AppState, req: &Request) -> Self {
        if req.uri().path().starts_with("/__emulator") {
            return Self(None);
        }
        let mut headers = BTreeMap::new();
        for (k, v) in req.headers() {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            headers
                .entry(k.as_str().to_owned())
                .and_modify(|e: &mut String| {
                    e.push_str(", ");
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        Self(Some(LoggedRequest {
            seq: 0,
            at_ms: state.clock.now_ms(),
            method: req.method().to_string(),
            path: req.uri().path().to_owned(),
            query: req.uri().query().unwrap_or("").to_owned(),
            headers,
            status: 0,
            fault: None,
        }))
    }

    /// Notes the fault this request gets.
    pub fn note_fault(&mut self, f: &Fault) {
        if let Some(r) = &mut self.0 {
            r.fault = Some(f.0.label());
        }
    }

    pub fn finish(self, state: &AppState, status: StatusCode) {
        if let Some(mut r) = self.0 {
            r.status = status.as_u16();
            r.seq = state.controls.seq.fetch_add(1, Ordering::Relaxed) + 1;
            let mut log = state.controls.log.lock().unwrap_or_else(|p| p.into_inner());
            if log.len() >= MAX_LOG {
                log.remove(0);
            }
            log.push(r);
        }
    }
}

/// Fault rules and the request log of one emulator.
#[derive(Default)]
pub struct Controls {
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<LoggedRequest>>,
    seq: AtomicU64,
}

impl Controls {
    pub fn add_fault(&self, rule: FaultRule) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    pub fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub(crate) fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        if path.starts_with("/__emulator") {
            return None;
        }
        let mut rules = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let idx = rules
            .iter()
            .position(|r| r.matches(method, path) && r.times != Some(0))?;
        let rule = &mut rules[idx];
        if let Some(p) = rule.probability
            && rand::random::<f64>() >= p
        {
            return None;
        }
        let action = rule.action.clone();
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                rules.remove(idx);
            }
        }
        Some(Fault(action))
    }
}

// ---------------------------------------------------------------- HTTP admin

pub(crate) async fn get_requests(State(state): State<AppState>) -> Json<Vec<LoggedRequest>> {
    Json(state.controls.requests())
}

pub(crate) async fn clear_requests(State(state): State<AppState>) -> StatusCode {
    state.controls.clear_requests();
    StatusCode::NO_CONTENT
}

pub(crate) async fn add_fault(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let rule: FaultRule = serde_json::from_slice(&body)
        .map_err(|e| ApiError::param_format_invalid("body", format!("not a fault rule: {e}")))?;
    state.controls.add_fault(rule);
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn clear_faults(State(state): State<AppState>) -> StatusCode {
    state.controls.clear_faults();
    StatusCode::NO_CONTENT
}

pub(crate) async fn get_clock(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"now_ms": state.clock.now_ms(), "offset_ms": state.clock.offset_ms()}))
}

pub(crate) async fn advance_clock(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    struct Advance {
        ms: i64,
    }
    let a: Advance = serde_json::from_slice(&body).map_err(|e| {
        ApiError::param_format_invalid("body", format!("expected {{\"ms\": N}}: {e}"))
    })?;
    state.clock.advance_ms(a.ms);
    Ok(Json(
        json!({"now_ms": state.clock.now_ms(), "offset_ms": state.clock.offset_ms()}),
    ))
}

pub(crate) async fn set_rate_limits(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    #[derive(Deserialize)]
    struct Flag {
        enabled: bool,
    }
    let f: Flag = serde_json::from_slice(&body).map_err(|e| {
        ApiError::param_format_invalid("body", format!("expected {{\"enabled\": bool}}: {e}"))
    })?;
    state.set_rate_limits(f.enabled);
    Ok(StatusCode::NO_CONTENT)
}

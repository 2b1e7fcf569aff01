//! Clerk's error envelope.
//!
//! Every failure the emulator answers is `{"errors":[{code, message,
//! long_message, meta}], "meta":{}, "clerk_trace_id"}` with the HTTP status
//! and code Clerk uses (Clerk's error catalogue; `docs/contracts.md`, "Wire format"), never a bare string. Internal
//! failures become a generic 500 in the same envelope; their detail goes to
//! the log only.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// One Clerk API error, ready to be sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    pub long_message: String,
    pub meta: Map<String, Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        long_message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            long_message: long_message.into(),
            meta: Map::new(),
            retry_after: None,
        }
    }

    /// An error with a code chosen at run time (fault injection).
    #[cfg_attr(not(feature = "test-controls"), allow(dead_code))]
    pub fn with_code(status: StatusCode, code: String, message: &str, long_message: &str) -> Self {
        let mut e = Self::new(status, "", message, long_message);
        e.code = Cow::Owned(code);
        e
    }

    /// Adds a `meta` entry (`param_name`, `session_id`, …).
    pub fn with_meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.meta.insert(key.to_owned(), value.into());
        self
    }

    pub fn param_missing(param: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
            "is missing",
            format!("{param} must be included."),
        )
        .with_meta("param_name", param)
    }

    pub fn param_invalid(param: &str, long: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
            "is invalid",
            long,
        )
        .with_meta("param_name", param)
    }

    pub fn param_format_invalid(param: &str, long: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
            "is invalid",
            long,
        )
        .with_meta("param_name", param)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            format!("{what} not found"),
            format!("No {} was found with id {id}", what.to_lowercase()),
        )
    }

    pub fn session_not_found(id: &str) -> Self {
        Self::not_found("Session", id)
    }

    pub fn signed_out() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            "Signed out",
            "You are signed out",
        )
    }

    pub fn authentication_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_invalid",
            "Invalid authentication",
            "Unable to authenticate the request, you need to supply an active session",
        )
    }

    pub fn client_not_found() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "client_not_found",
            "No client found",
            "This request is expecting a client and did not find one",
        )
    }

    pub fn invalid_action(action: &str, session_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_action_for_session",
            "Invalid action",
            format!("Unable to {action} session {session_id}"),
        )
        .with_meta("session_id", session_id)
    }

    pub fn session_exists() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "session_exists",
            "Session already exists",
            "You're already signed in.",
        )
    }

    pub fn identifier_already_signed_in(session_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "identifier_already_signed_in",
            "You're already signed in",
            "You're already signed in",
        )
        .with_meta("session_id", session_id)
    }

    pub fn authorization_invalid() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "authorization_invalid",
            "Unauthorized request",
            "You are not authorized to perform this request",
        )
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "Too many requests",
            "Too many requests, retry later",
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn api_version_invalid(long: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "api_version_invalid",
            "Invalid API version",
            long,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_clerk_error",
            "Oops, an unexpected error occurred",
            "There was an internal error on our servers. We've been notified and are working on fixing it.",
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        json!({
            "errors": [{
                "code": self.code,
                "message": self.message,
                "long_message": self.long_message,
                "meta": self.meta,
            }],
            "meta": {},
            "clerk_trace_id": crate::ids::random_base62(32),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

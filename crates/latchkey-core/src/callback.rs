//! Callback URLs: parsed and validated before anything else happens.
//!
//! Accepted exactly (docs/contracts.md): `dev.latchkey.desktop://callback`
//! (hosted auth), `dev.latchkey.desktop://sso-callback` (OAuth),
//! `dev.latchkey.desktop://handoff?ticket=…` (web-to-desktop),
//! `dev.latchkey.desktop://selftest?nonce=…` (the app's link check: used
//! only while a check with that nonce is pending), and
//! `http://127.0.0.1:<port>/callback` on the loopback listener. The scheme
//! compares case-insensitively; the route exactly. At most 4 KiB; no
//! fragment; every parameter at most once; strict percent-decoding to
//! UTF-8 with no control characters. Unknown parameters are ignored and
//! never followed.

use std::collections::BTreeMap;

use crate::error::{Error, ErrorKind, Result};
use crate::secret::{RotatingNonce, SignInTicket};
use crate::types::SessionId;

/// Latchkey's URL scheme (the bundle identifier).
pub const SCHEME: &str = "dev.latchkey.desktop";
/// Redirect URL for hosted auth.
pub const HOSTED_CALLBACK_URL: &str = "dev.latchkey.desktop://callback";
/// Redirect URL for direct OAuth/SSO.
pub const SSO_CALLBACK_URL: &str = "dev.latchkey.desktop://sso-callback";
/// Largest callback URL parsed.
pub const MAX_CALLBACK_BYTES: usize = 4096;

/// Which callback route a URL used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `dev.latchkey.desktop://callback`.
    HostedAuth,
    /// `dev.latchkey.desktop://sso-callback`.
    Sso,
    /// `dev.latchkey.desktop://handoff`.
    Handoff,
    /// `dev.latchkey.desktop://selftest`.
    SelfTest,
    /// `http://127.0.0.1:<port>/callback` (hosted auth or OAuth; the pending
    /// attempt says which).
    Loopback,
}

/// A validated callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Hosted auth came back: `state`, `rotating_token_nonce`,
    /// `created_session_id`.
    HostedAuth {
        /// The attempt's `state`, echoed back.
        state: String,
        /// Redeemed with the PKCE verifier.
        nonce: RotatingNonce,
        /// The session the redemption creates (Clerk pre-allocates it).
        created_session_id: Option<SessionId>,
    },
    /// OAuth came back: `rotating_token_nonce`.
    Sso {
        /// Reloads the sign-in on the client that started it.
        nonce: RotatingNonce,
    },
    /// A web page handed over a sign-in ticket.
    Handoff {
        /// Single use, short-lived, bearer: never logged or shown.
        ticket: SignInTicket,
    },
    /// The app's own link check came back through the desktop (it signs
    /// nothing in; the app matches the nonce with the check it started).
    SelfTest {
        /// Random, from the check that sent it.
        nonce: String,
    },
    /// The flow failed or was cancelled in the browser.
    Failed {
        /// Which route reported it.
        route: Route,
        /// The attempt's `state`, when sent (a report must match it).
        state: Option<String>,
        /// Clerk's or the provider's error code, reduced to `[A-Za-z0-9_]`.
        code: String,
        /// The browser's description, kept as text (never markup).
        description: Option<String>,
    },
}

fn reject(msg: &str) -> Error {
    Error::new(ErrorKind::Callback, format!("rejected callback: {msg}"))
}

/// Parses a deep link (`dev.latchkey.desktop://…`).
///
/// # Errors
/// [`ErrorKind::Callback`] with the reason; nothing secret is echoed.
pub fn parse_deep_link(url: &str) -> Result<Callback> {
    if url.len() > MAX_CALLBACK_BYTES {
        return Err(reject("longer than 4 KiB"));
    }
    if url.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        return Err(reject(
            "contains whitespace, control characters or a fragment",
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| reject("not a Latchkey URL"))?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(reject("not a Latchkey URL"));
    }
    let (route, query) = match rest.split_once('?') {
        Some((r, q)) => (r, q),
        None => (rest, ""),
    };
    let route = match route {
        "callback" => Route::HostedAuth,
        "sso-callback" => Route::Sso,
        "handoff" => Route::Handoff,
        "selftest" => Route::SelfTest,
        _ => return Err(reject("unknown route")),
    };
    from_params(route, parse_query(query)?)
}

/// Parses the request target the loopback listener received
/// (`/callback?…`).
pub fn parse_loopback_target(target: &str) -> Result<Callback> {
    if target.len() > MAX_CALLBACK_BYTES {
        return Err(reject("longer than 4 KiB"));
    }
    if target.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        return Err(reject(
            "contains whitespace, control characters or a fragment",
        ));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        return Err(reject("unknown route"));
    }
    from_params(Route::Loopback, parse_query(query)?)
}

/// Strict query parsing: `%XX` only (no lossy decoding), valid UTF-8, no
/// control characters, no repeated names. `+` stays `+`.
pub(crate) fn parse_query(query: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        if out.insert(k, v).is_some() {
            return Err(reject("a parameter appears more than once"));
        }
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            ) else {
                return Err(reject("invalid percent-encoding"));
            };
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| reject("a parameter is not valid UTF-8"))?;
    if s.chars().any(char::is_control) {
        return Err(reject("a parameter contains control characters"));
    }
    Ok(s)
}

fn token_like(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn from_params(route: Route, p: BTreeMap<String, String>) -> Result<Callback> {
    if route == Route::SelfTest {
        // Nothing else is read from it: not an error report, not a sign-in.
        let nonce = p
            .get("nonce")
            .filter(|n| token_like(n, 128))
            .ok_or_else(|| reject("the link check has no valid nonce"))?;
        return Ok(Callback::SelfTest {
            nonce: nonce.clone(),
        });
    }
    let state = p.get("state").cloned();
    if p.get("__clerk_status").map(String::as_str) == Some("failed") || p.contains_key("error") {
        let code = p
            .get("__clerk_error_code")
            .or_else(|| p.get("error"))
            .cloned()
            .unwrap_or_else(|| "failed".into());
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        // Shown as text only; capped.
        let description = p
            .get("error_description")
            .map(|d| d.chars().take(200).collect());
        return Ok(Callback::Failed {
            route,
            state,
            code,
            description,
        });
    }
    match route {
        Route::SelfTest => Err(reject("unknown route")),
        Route::Handoff => {
            let t = p
                .get("ticket")
                .filter(|t| token_like(t, 2048))
                .ok_or_else(|| reject("the handoff link has no valid ticket"))?;
            Ok(Callback::Handoff {
                ticket: SignInTicket::new(t.clone()),
            })
        }
        Route::Sso => {
            let n = p
                .get("rotating_token_nonce")
                .filter(|n| token_like(n, 512))
                .ok_or_else(|| reject("missing rotating_token_nonce"))?;
            Ok(Callback::Sso {
                nonce: RotatingNonce::new(n.clone()),
            })
        }
        Route::HostedAuth | Route::Loopback => {
            let nonce = p
                .get("rotating_token_nonce")
                .filter(|n| token_like(n, 512))
                .ok_or_else(|| reject("missing rotating_token_nonce"))?;
            match state {
                Some(state) if !state.is_empty() && state.len() <= 512 => {
                    let created = match p.get("created_session_id") {
                        Some(s) if token_like(s, 128) => Some(SessionId(s.clone())),
                        Some(_) => return Err(reject("invalid created_session_id")),
                        None => None,
                    };
                    Ok(Callback::HostedAuth {
                        state,
                        nonce: RotatingNonce::new(nonce.clone()),
                        created_session_id: created,
                    })
                }
                Some(_) => Err(reject("invalid state")),
                None if route == Route::Loopback => Ok(Callback::Sso {
                    nonce: RotatingNonce::new(nonce.clone()),
                }),
                None => Err(reject("missing state")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_routes() {
        let cb = parse_deep_link("dev.latchkey.desktop://callback?state=abc&rotating_token_nonce=n1&created_session_id=sess_1").unwrap();
        assert_eq!(
            cb,
            Callback::HostedAuth {
                state: "abc".into(),
                nonce: RotatingNonce::new("n1"),
                created_session_id: Some(SessionId("sess_1".into()))
            }
        );
        assert_eq!(
            parse_deep_link("DEV.Latchkey.DESKTOP://sso-callback?rotating_token_nonce=n2").unwrap(),
            Callback::Sso {
                nonce: RotatingNonce::new("n2")
            }
        );
        assert_eq!(
            parse_deep_link("dev.latchkey.desktop://handoff?ticket=abc.def").unwrap(),
            Callback::Handoff {
                ticket: SignInTicket::new("abc.def")
            }
        );
        assert!(
            matches!(parse_deep_link("dev.latchkey.desktop://callback?state=s&__clerk_status=failed&__clerk_error_code=user_cancelled").unwrap(), Callback::Failed { code, .. } if code == "user_cancelled")
        );
        assert!(matches!(
            parse_loopback_target("/callback?rotating_token_nonce=x").unwrap(),
            Callback::Sso { .. }
        ));
        assert!(matches!(
            parse_loopback_target("/callback?state=s&rotating_token_nonce=x").unwrap(),
            Callback::HostedAuth { .. }
        ));
    }

    #[test]
    fn the_link_check_route_carries_only_a_nonce() {
        assert_eq!(
            parse_deep_link("dev.latchkey.desktop://selftest?nonce=AbC-123_x").unwrap(),
            Callback::SelfTest {
                nonce: "AbC-123_x".into()
            }
        );
        // An error report on it is not one: still just a check (or refused).
        assert_eq!(
            parse_deep_link("dev.latchkey.desktop://selftest?nonce=n1&error=access_denied")
                .unwrap(),
            Callback::SelfTest { nonce: "n1".into() }
        );
        for bad in [
            "dev.latchkey.desktop://selftest",
            "dev.latchkey.desktop://selftest?nonce=",
            "dev.latchkey.desktop://selftest?nonce=a%20b",
            "dev.latchkey.desktop://selftest?nonce=%3Cscript%3E",
            "dev.latchkey.desktop://selftest?nonce=a&nonce=b",
            "dev.latchkey.desktop://Selftest?nonce=a",
        ] {
            assert!(parse_deep_link(bad).is_err(), "{bad}");
        }
        let long = format!("dev.latchkey.desktop://selftest?nonce={}", "a".repeat(129));
        assert!(parse_deep_link(&long).is_err());
        // Never on the loopback listener.
        assert!(parse_loopback_target("/selftest?nonce=a").is_err());
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        let cb = parse_deep_link("dev.latchkey.desktop://sso-callback?rotating_token_nonce=n&next=https%3A%2F%2Fevil&redirect_url=x").unwrap();
        assert_eq!(
            cb,
            Callback::Sso {
                nonce: RotatingNonce::new("n")
            }
        );
    }
}

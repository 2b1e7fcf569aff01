//! The hostile deep-link table of docs/threat-model.md (T7, T20), and property tests of
//! the parser (a bounded number of cases in `make test`; `make fuzz` runs
//! ≥ 100k): 0 accepted that should not be, 0 panics, no FAPI call.

use latchkey_core::callback::{Callback, parse_deep_link, parse_loopback_target};
use latchkey_core::{ErrorKind, SignInFlows};
use proptest::prelude::*;

use crate::common::*;

const REJECTED: &[&str] = &[
    "dev.latchkey.desktop://callback",
    "dev.latchkey.desktop://callback?state=s",
    "dev.latchkey.desktop://callback?rotating_token_nonce=n",
    "dev.latchkey.desktop://evil/callback?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback/../x?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback/?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop:callback?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop:/callback?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop://u:p@callback:1?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback:443?state=s&rotating_token_nonce=n",
    "dev.latchkey.desktop://handoff#ticket=abc",
    "dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n#x",
    "dev.latchkey.desktop://callback?state=a&state=b&rotating_token_nonce=n",
    "dev.latchkey.desktop://handoff?ticket=a&ticket=b",
    "dev.latchkey.desktop://callback?state=%FF%FE&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback?state=%C0%AF&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback?state=a%00b&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback?state=a%0Ab&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback?state=%zz&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback?state=%4&rotating_token_nonce=n",
    "dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n%20x",
    "dev.latchkey.desktop://callback?state=s &rotating_token_nonce=n",
    "dev.latchkey.desktop://handoff",
    "dev.latchkey.desktop://handoff?ticket=",
    "dev.latchkey.desktop://handoff?ticket=<script>",
    "dev.latchkey.desktop://sso-callback",
    "dev.latchkey.desktop://sso-callback?rotating_token_nonce=",
    "dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n&created_session_id=../../x",
    "myapp://callback?state=s&rotating_token_nonce=n",
    "https://evil.example/callback?state=s&rotating_token_nonce=n",
    "javascript:alert(1)",
    "",
    "dev.latchkey.desktop://",
    " dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n",
];

#[test]
fn hostile_deep_links_are_rejected() {
    for url in REJECTED {
        let e = parse_deep_link(url).expect_err(url);
        assert_eq!(e.kind(), &ErrorKind::Callback, "{url}");
        assert!(
            !e.to_string().contains("rotating_token_nonce=n"),
            "the URL is not echoed"
        );
    }
    let base = "dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n&pad=";
    for size in [4097usize, 64 * 1024, 1024 * 1024] {
        let url = format!("{base}{}", "a".repeat(size - base.len()));
        assert_eq!(url.len(), size);
        assert!(parse_deep_link(&url).is_err(), "{size} bytes");
    }
}

#[test]
fn scheme_case_is_ignored_but_nothing_else() {
    assert!(
        parse_deep_link("DEV.LATCHKEY.DESKTOP://callback?state=s&rotating_token_nonce=n").is_ok()
    );
    assert!(
        parse_deep_link("dev.latchkey.desktop://CALLBACK?state=s&rotating_token_nonce=n").is_err()
    );
}

#[test]
fn error_reports_keep_text_as_text() {
    let cb = parse_deep_link("dev.latchkey.desktop://callback?state=s&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E").unwrap();
    let Callback::Failed {
        code,
        description,
        state,
        ..
    } = cb
    else {
        panic!()
    };
    assert_eq!(code, "access_denied");
    assert_eq!(state.as_deref(), Some("s"));
    assert_eq!(
        description.as_deref(),
        Some("<script>alert(1)</script>"),
        "kept verbatim; the UI renders it as text"
    );
    let Callback::Failed { code, .. } = parse_deep_link(
        "dev.latchkey.desktop://sso-callback?__clerk_status=failed&__clerk_error_code=%3Cb%3Ex",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(code, "bx", "codes are reduced to [A-Za-z0-9_]");
}

#[test]
fn loopback_targets() {
    assert!(parse_loopback_target("/callback?state=s&rotating_token_nonce=n").is_ok());
    for bad in [
        "/",
        "/callback/x?rotating_token_nonce=n",
        "/favicon.ico",
        "callback?rotating_token_nonce=n",
        "/callback?rotating_token_nonce=n&rotating_token_nonce=m",
    ] {
        assert!(parse_loopback_target(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn rejected_links_reach_no_fapi() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    env.emu.clear_requests();
    let mut accepted_by_parser = 0;
    for url in REJECTED.iter().copied().chain([
        "dev.latchkey.desktop://callback?state=s&rotating_token_nonce=n",
        "dev.latchkey.desktop://sso-callback?rotating_token_nonce=n",
    ]) {
        if let Ok(cb) = parse_deep_link(url) {
            accepted_by_parser += 1;
            assert!(
                flows.handle(cb).await.is_err(),
                "{url}: no attempt is pending"
            );
        }
    }
    assert_eq!(accepted_by_parser, 2);
    assert_eq!(env.fapi_requests(), 0);
}

fn cases() -> u32 {
    std::env::var("LATCHKEY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

fn scheme() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("dev.latchkey.desktop".to_owned()),
        Just("DEV.latchkey.Desktop".to_owned()),
        "[a-z.]{0,24}",
        Just("http".to_owned())
    ]
}

fn route() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("callback".to_owned()),
        Just("sso-callback".to_owned()),
        Just("handoff".to_owned()),
        Just("selftest".to_owned()),
        Just("callback/".to_owned()),
        Just("u:p@callback".to_owned()),
        "[a-z/.:@%-]{0,16}",
    ]
}

fn param() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("state".to_owned()),
        Just("rotating_token_nonce".to_owned()),
        Just("created_session_id".to_owned()),
        Just("ticket".to_owned()),
        Just("nonce".to_owned()),
        Just("__clerk_status".to_owned()),
        Just("error".to_owned()),
        "[a-z_]{1,12}",
    ];
    let value = prop_oneof![
        "[A-Za-z0-9_.~-]{0,40}",
        "(%[0-9A-Fa-f]{2}){1,6}",
        "%[0-9A-Za-z]{0,2}",
        "[ -~]{0,20}"
    ];
    (name, value).prop_map(|(n, v)| format!("{n}={v}"))
}

fn url() -> impl Strategy<Value = String> {
    (
        scheme(),
        route(),
        proptest::collection::vec(param(), 0..6),
        any::<bool>(),
    )
        .prop_map(|(s, r, ps, frag)| {
            format!("{s}://{r}?{}{}", ps.join("&"), if frag { "#x" } else { "" })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic and are never accepted unless they are a
    /// Latchkey URL on one of the four routes.
    #[test]
    fn parser_never_panics_on_arbitrary_input(s in "\\PC{0,300}") {
        if parse_deep_link(&s).is_ok() {
            let lower = s.to_ascii_lowercase();
            prop_assert!(["dev.latchkey.desktop://callback?", "dev.latchkey.desktop://sso-callback?", "dev.latchkey.desktop://handoff?", "dev.latchkey.desktop://selftest?"].iter().any(|p| lower.starts_with(p)));
        }
        let _ = parse_loopback_target(&s);
    }

    /// Grammar-generated URLs: accepted only on an exact route, with each
    /// parameter once, without a fragment, with the required parameters.
    #[test]
    fn grammar_generated_urls_follow_the_rules(u in url()) {
        if let Ok(cb) = parse_deep_link(&u) {
            prop_assert!(!u.contains('#'));
            let (head, query) = u.split_once('?').unwrap();
            let (scheme, route) = head.split_once("://").unwrap();
            prop_assert!(scheme.eq_ignore_ascii_case("dev.latchkey.desktop"));
            prop_assert!(["callback", "sso-callback", "handoff", "selftest"].contains(&route));
            let names: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).map(|p| p.split('=').next().unwrap()).collect();
            let mut dedup = names.clone();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), names.len(), "a repeated parameter was accepted");
            match cb {
                Callback::HostedAuth { state, .. } => prop_assert!(!state.is_empty() && route == "callback"),
                Callback::Sso { .. } => prop_assert_eq!(route, "sso-callback"),
                Callback::Handoff { .. } => prop_assert_eq!(route, "handoff"),
                Callback::SelfTest { nonce } => {
                    prop_assert_eq!(route, "selftest");
                    prop_assert!(!nonce.is_empty() && nonce.len() <= 128);
                    prop_assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
                }
                Callback::Failed { route: r, .. } => prop_assert!(r != latchkey_core::callback::Route::SelfTest),
            }
        }
    }
}

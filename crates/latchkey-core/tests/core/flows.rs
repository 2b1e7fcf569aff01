//! The three sign-in flows end to end against the emulator, and the rules
//! for callbacks: live attempt, exactly once, no FAPI call when rejected.

use std::time::Duration;

use clerk_emulator::{FaultAction, FaultRule};
use latchkey_core::callback::parse_deep_link;
use latchkey_core::{
    ErrorKind, FlowKind, HandoffResult, LoopbackListener, Outcome, Redirect, SignInFlows,
};

use crate::common::*;

/// Signs `email` in by hosted auth and a deep link; the new session.
async fn hosted_sign_in(flows: &SignInFlows, env: &Env, email: &str) -> latchkey_core::SessionId {
    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    let cb = env.browser_hosted(&started.url, email).await;
    match flows.handle(parse_deep_link(&cb).unwrap()).await.unwrap() {
        Outcome::SignedIn { session, .. } => session,
        other => panic!("not signed in: {other:?}"),
    }
}

#[tokio::test]
async fn hosted_auth_by_deep_link_signs_in_and_activates() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    assert_eq!(started.kind, FlowKind::Hosted);
    assert!(started.url.starts_with(env.emu.frontend_api_url()));
    assert_eq!(
        flows.pending().unwrap().url,
        started.url,
        "the link can be opened again or copied"
    );
    let start_req = env
        .emu
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/client/hosted_auth")
        .unwrap();
    assert!(start_req.query_param("code_challenge_method").is_none());

    let callback = env.browser_hosted(&started.url, "ada@example.com").await;
    assert!(callback.starts_with("dev.latchkey.desktop://callback?"));
    let before = env.emu.session_count();
    let outcome = flows
        .handle(parse_deep_link(&callback).unwrap())
        .await
        .unwrap();
    let Outcome::SignedIn {
        session,
        user,
        client,
    } = outcome
    else {
        panic!("not signed in")
    };
    assert_eq!(
        user.as_ref().map(|u| u.as_str().to_owned()),
        Some(env.user_id("ada@example.com"))
    );
    assert_eq!(client.last_active_session_id.as_ref(), Some(&session));
    assert_eq!(env.emu.session_count(), before + 1);
    assert!(flows.pending().is_none());

    // The same URL again (browser history, a second delivery): a no-op.
    env.emu.clear_requests();
    assert_eq!(
        flows
            .handle(parse_deep_link(&callback).unwrap())
            .await
            .unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(
        env.fapi_requests(),
        0,
        "duplicate delivery made no FAPI call"
    );
    assert_eq!(env.emu.session_count(), before + 1, "redeemed once");
}

#[tokio::test]
async fn callbacks_without_a_matching_live_attempt_make_no_fapi_call() {
    let env = env().await;
    // Attempts expire on the client's clock (the engine's): moved below.
    let clock = std::sync::Arc::new(latchkey_core::clock::TestClock::new());
    let flows = SignInFlows::new(env.fapi().with_clock(clock.clone()));
    let forged = "dev.latchkey.desktop://callback?state=forged&rotating_token_nonce=n&created_session_id=sess_x";
    env.emu.clear_requests();
    let e = flows
        .handle(parse_deep_link(forged).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Callback);
    let e = flows
        .handle(
            parse_deep_link("dev.latchkey.desktop://sso-callback?rotating_token_nonce=n").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Callback);
    assert_eq!(env.fapi_requests(), 0);

    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    let real = env.browser_hosted(&started.url, "ada@example.com").await;
    env.emu.clear_requests();
    // Wrong state, state differing in case, trailing space: rejected, and the
    // real attempt survives.
    for bad in ["forged", "FORGED"] {
        let url = real.replace(
            &format!("state={}", state_of(&real)),
            &format!("state={bad}"),
        );
        assert_eq!(
            flows
                .handle(parse_deep_link(&url).unwrap())
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Callback
        );
    }
    let upper = real.replace(
        &format!("state={}", state_of(&real)),
        &format!("state={}", state_of(&real).to_uppercase()),
    );
    if upper != real {
        assert_eq!(
            flows
                .handle(parse_deep_link(&upper).unwrap())
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Callback
        );
    }
    // A failure report with the wrong state cannot cancel it either.
    let cancel = "dev.latchkey.desktop://callback?state=forged&__clerk_status=failed&__clerk_error_code=user_cancelled";
    assert_eq!(
        flows
            .handle(parse_deep_link(cancel).unwrap())
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Callback
    );
    assert_eq!(env.fapi_requests(), 0, "rejections made no FAPI call");
    assert!(flows.pending().is_some());

    // Expired: a second before the attempt's five minutes are up it is
    // still live; after them it is gone.
    clock.advance(latchkey_core::ATTEMPT_TTL - Duration::from_secs(1));
    assert!(flows.pending().is_some(), "live until its time is up");
    clock.advance(Duration::from_secs(2));
    assert_eq!(
        flows
            .handle(parse_deep_link(&real).unwrap())
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Callback
    );
    assert_eq!(env.fapi_requests(), 0);
    assert!(flows.pending().is_none(), "an expired attempt is gone");
}

fn state_of(url: &str) -> String {
    url.split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn one_flow_at_a_time_cancel_and_failure_reports() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    let e = flows
        .start_oauth("oauth_google", Redirect::DeepLink)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignIn);
    assert!(flows.cancel());
    assert!(!flows.cancel());
    let callback = env.browser_hosted(&started.url, "ada@example.com").await;
    assert_eq!(
        flows
            .handle(parse_deep_link(&callback).unwrap())
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Callback,
        "cancelled attempts accept nothing"
    );

    // Cancelled in the browser: the attempt ends with a clear message.
    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    let attempt = started.url.split("attempt=").nth(1).unwrap().to_owned();
    let url = env
        .post_page("/hosted/sign-in", &[("attempt", &attempt), ("cancel", "1")])
        .await;
    let e = flows
        .handle(parse_deep_link(&url).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignIn);
    assert!(e.to_string().contains("cancelled"), "{e}");
    assert!(flows.pending().is_none());
}

#[tokio::test]
async fn oauth_flow_with_the_fake_provider_and_transfer_to_sign_up() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let started = flows
        .start_oauth("oauth_google", Redirect::DeepLink)
        .await
        .unwrap();
    assert_eq!(
        started.kind,
        FlowKind::OAuth {
            strategy: "oauth_google".into()
        }
    );
    let cb = env
        .browser_oauth(&started.url, "ada@example.com", false)
        .await;
    assert!(cb.starts_with("dev.latchkey.desktop://sso-callback?"));
    let Outcome::SignedIn { user, .. } = flows.handle(parse_deep_link(&cb).unwrap()).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(user.unwrap().as_str(), env.user_id("ada@example.com"));
    assert_eq!(
        flows.handle(parse_deep_link(&cb).unwrap()).await.unwrap(),
        Outcome::Duplicate
    );

    let started = flows
        .start_oauth("oauth_github", Redirect::DeepLink)
        .await
        .unwrap();
    let cb = env
        .browser_oauth(&started.url, "newcomer@example.com", true)
        .await;
    let Outcome::SignedIn { client, .. } =
        flows.handle(parse_deep_link(&cb).unwrap()).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        client.signed_in().count(),
        2,
        "a second account on this client"
    );
    assert!(
        env.emu.user_id("newcomer@example.com").is_some(),
        "transferred to sign-up"
    );

    let started = flows
        .start_oauth("oauth_google", Redirect::DeepLink)
        .await
        .unwrap();
    let path = started
        .url
        .strip_prefix(env.emu.frontend_api_url())
        .unwrap()
        .to_owned();
    let (route, q) = path.split_once('?').unwrap();
    let si = q.split("sign_in_id=").nth(1).unwrap().to_owned();
    let cb = env
        .post_page(route, &[("sign_in_id", &si), ("cancel", "1")])
        .await;
    // Clerk's OAuth failure report carries nothing tying it to the
    // attempt (anyone could send one): it is told, the attempt lives on
    // until the user cancels it.
    let e = flows
        .handle(parse_deep_link(&cb).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Callback);
    assert!(e.to_string().contains("oauth_access_denied"), "{e}");
    assert!(flows.pending().is_some());
    assert!(flows.cancel());
    assert!(
        flows
            .start_oauth("javascript:alert(1)", Redirect::DeepLink)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn loopback_fallback_waits_for_its_callback_then_closes() {
    let env = env().await;
    let flows = std::sync::Arc::new(SignInFlows::new(env.fapi()));
    let listener = LoopbackListener::bind().await.unwrap();
    let port = listener.port();
    assert!(listener.redirect_url().starts_with("http://127.0.0.1:"));
    let started = flows.start_hosted(Redirect::Loopback(port)).await.unwrap();
    let callback = env.browser_hosted(&started.url, "grace@example.com").await;
    assert!(callback.starts_with(&format!("http://127.0.0.1:{port}/callback?")));
    let f = flows.clone();
    let waiter = tokio::spawn(listener.serve(Duration::from_secs(10), move |cb| {
        let f = f.clone();
        async move { f.handle(cb).await }
    }));
    // Strays do not close it: a connection that says nothing, a request
    // that is not a callback, and a forged callback with another state.
    drop(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    let junk = reqwest::get(format!("http://127.0.0.1:{port}/favicon.ico"))
        .await
        .unwrap();
    assert_eq!(junk.status(), 400);
    let forged = reqwest::get(format!(
        "http://127.0.0.1:{port}/callback?state=forged&rotating_token_nonce=x&created_session_id=sess_x"
    ))
    .await
    .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(flows.pending().is_some(), "the attempt is still live");
    let page = reqwest::get(&callback).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Signed in. You can close this tab")
    );
    assert!(matches!(
        waiter.await.unwrap().unwrap(),
        Outcome::SignedIn { .. }
    ));
    // Closed after its callback.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn loopback_listener_is_bound_to_127_0_0_1_only() {
    let listener = LoopbackListener::bind().await.unwrap();
    let port = listener.port();
    // Bound to 127.0.0.1 itself, not to every interface: another loopback
    // address (Linux routes all of 127/8 locally) does not reach it. No
    // traffic leaves loopback.
    assert_eq!(
        listener.local_addr().ip(),
        std::net::IpAddr::from([127, 0, 0, 1])
    );
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.2", port))
            .await
            .is_err(),
        "reachable on 127.0.0.2"
    );
    // A timeout is reported as a sign-in error.
    let e = listener
        .serve(Duration::from_millis(100), |_| async { Ok(()) })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignIn);
}

#[tokio::test]
async fn redeeming_a_ticket_adds_an_account_and_keeps_the_active_one() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let ada = hosted_sign_in(&flows, &env, "ada@example.com").await;
    // A handoff link is the engine's to quarantine: it completes no attempt.
    let link = format!(
        "dev.latchkey.desktop://handoff?ticket={}",
        env.ticket("grace@example.com").await
    );
    env.emu.clear_requests();
    let e = flows
        .handle(parse_deep_link(&link).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Callback);
    assert_eq!(env.fapi_requests(), 0);

    let ticket = |t: String| latchkey_core::SignInTicket::new(t);
    let HandoffResult::Added {
        session: grace,
        user,
    } = flows
        .redeem_ticket(&ticket(env.ticket("grace@example.com").await), Some(&ada))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(user.unwrap().as_str(), env.user_id("grace@example.com"));
    let client = flows.fapi().get_client().await.unwrap().unwrap();
    assert_eq!(
        client.last_active_session_id.as_ref(),
        Some(&ada),
        "the active account stays active"
    );
    assert!(client.session(&grace).unwrap().status.is_signed_in());

    // The same user again on this client: that session, nothing added.
    let before = env.emu.session_count();
    assert_eq!(
        flows
            .redeem_ticket(&ticket(env.ticket("grace@example.com").await), Some(&ada))
            .await
            .unwrap(),
        HandoffResult::AlreadySignedIn {
            session: grace.clone()
        }
    );
    assert_eq!(env.emu.session_count(), before);

    // A used ticket: a clear message.
    let t = env.ticket("katherine@example.com").await;
    SignInFlows::new(env.fapi())
        .redeem_ticket(&ticket(t.clone()), None)
        .await
        .unwrap();
    let e = flows
        .redeem_ticket(&ticket(t), Some(&ada))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no longer valid"), "{e}");
}

#[tokio::test]
async fn a_ticket_on_a_single_session_client_with_an_account_is_refused() {
    let env = env_with(|c| c.single_session_mode = Some(true)).await;
    let flows = SignInFlows::new(env.fapi());
    let ada = hosted_sign_in(&flows, &env, "ada@example.com").await;
    let t = latchkey_core::SignInTicket::new(env.ticket("grace@example.com").await);
    let e = flows.redeem_ticket(&t, Some(&ada)).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignIn);
    assert!(e.to_string().contains("one account at a time"), "{e}");
    let client = flows.fapi().get_client().await.unwrap().unwrap();
    assert_eq!(
        client.signed_in().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![ada]
    );
}

#[tokio::test]
async fn a_callback_captured_by_another_process_is_useless_there() {
    let env = env().await;
    let victim = SignInFlows::new(env.fapi());
    let started = victim.start_hosted(Redirect::DeepLink).await.unwrap();
    let cb = env.browser_hosted(&started.url, "ada@example.com").await;
    let thief = SignInFlows::new(env.fapi());
    let before = env.emu.session_count();
    assert_eq!(
        thief
            .handle(parse_deep_link(&cb).unwrap())
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Callback
    );
    assert_eq!(env.emu.session_count(), before);
    assert!(matches!(
        victim.handle(parse_deep_link(&cb).unwrap()).await.unwrap(),
        Outcome::SignedIn { .. }
    ));
    assert_eq!(env.emu.session_count(), before + 1);
}

#[tokio::test]
async fn hosted_auth_signed_out_rereads_the_client_and_retries_once() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let signed_out = || FaultAction::Status {
        status: 401,
        code: "signed_out".into(),
        retry_after: None,
    };
    env.emu
        .add_fault(FaultRule::new("/v1/client/hosted_auth", signed_out()).times(1));
    flows
        .start_hosted(Redirect::DeepLink)
        .await
        .expect("retried after re-reading the client");
    let log: Vec<String> = env
        .emu
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        log,
        [
            "POST /v1/client/hosted_auth",
            "GET /v1/client",
            "POST /v1/client/hosted_auth"
        ],
        "{log:?}"
    );
    // Once only: a second refusal is the answer.
    flows.cancel();
    env.emu
        .add_fault(FaultRule::new("/v1/client/hosted_auth", signed_out()).times(2));
    let e = flows.start_hosted(Redirect::DeepLink).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn a_forged_sso_callback_or_failure_report_does_not_end_an_oauth_attempt() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let started = flows
        .start_oauth("oauth_google", Redirect::DeepLink)
        .await
        .unwrap();
    for forged in [
        "dev.latchkey.desktop://sso-callback?rotating_token_nonce=forged",
        "dev.latchkey.desktop://sso-callback?__clerk_status=failed&__clerk_error_code=oauth_access_denied",
    ] {
        let e = flows
            .handle(parse_deep_link(forged).unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Callback, "{forged}: {e}");
        assert_eq!(
            flows.pending().map(|p| p.attempt),
            Some(started.attempt),
            "{forged} left the attempt alone"
        );
    }
    // The real one still completes it.
    let cb = env
        .browser_oauth(&started.url, "ada@example.com", false)
        .await;
    assert!(matches!(
        flows.handle(parse_deep_link(&cb).unwrap()).await.unwrap(),
        Outcome::SignedIn { .. }
    ));
    assert!(flows.pending().is_none());
}

#[tokio::test]
async fn a_hosted_callback_must_name_the_session_its_redemption_created() {
    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    // An existing session on this client, which a tampered callback names.
    let ada = hosted_sign_in(&flows, &env, "ada@example.com").await;
    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    let cb = env.browser_hosted(&started.url, "grace@example.com").await;
    let created = cb
        .split("created_session_id=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .unwrap()
        .to_owned();
    let tampered = cb.replace(&created, ada.as_str());
    let e = flows
        .handle(parse_deep_link(&tampered).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::SignIn);
    assert!(e.to_string().contains("did not create"), "{e}");
    // Nothing was made active: Ada's session is still the client's
    // current one only if it was; the tampered name was not touched.
    let touched_ada = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.path == format!("/v1/client/sessions/{ada}/touch"))
        .count();
    assert_eq!(touched_ada, 1, "only Ada's own sign-in touched her session");
}

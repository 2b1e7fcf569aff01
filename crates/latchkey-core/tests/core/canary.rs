//! With canary secrets in play through full sign-ins, no log line and no
//! error string contains them, and no secret type prints its value. Every
//! error is formatted with `{}`, `{:#}` and `{:?}`, and so is every error in
//! its source chain (sources are kept for logs).

use std::io::Write;
use std::sync::{Arc, Mutex};

use latchkey_core::callback::parse_deep_link;
use latchkey_core::{
    ClientCredential, OrgSel, Outcome, PkceVerifier, Redirect, SessionToken, SignInFlows,
    SignInTicket,
};

use crate::common::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error in every form a log line or a panic could print it.
fn all_forms(e: &latchkey_core::Error) -> String {
    let mut out = format!("{e} | {e:#} | {e:?}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(&format!(" | {s} | {s:#} | {s:?}"));
        src = s.source();
    }
    out
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_an_error() {
    let capture = Capture::default();
    let sink = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = env().await;
    let flows = SignInFlows::new(env.fapi());
    let mut secrets: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();

    // Hosted auth: the callback nonce, the credential, a token.
    let started = flows.start_hosted(Redirect::DeepLink).await.unwrap();
    let cb = env.browser_hosted(&started.url, "ada@example.com").await;
    secrets.push(
        cb.split("rotating_token_nonce=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .to_owned(),
    );
    let Outcome::SignedIn { session, .. } =
        flows.handle(parse_deep_link(&cb).unwrap()).await.unwrap()
    else {
        panic!()
    };
    secrets.push(flows.fapi().credential().unwrap().expose().to_owned());
    let token = flows
        .fapi()
        .session_token(&session, &OrgSel::Active)
        .await
        .unwrap();
    secrets.push(token.expose().to_owned());
    // Replays and bad inputs produce errors: collect their text.
    for url in [cb.clone(), cb.replace("state=", "state=x")] {
        if let Err(e) = flows.handle(parse_deep_link(&url).unwrap()).await {
            errors.push(all_forms(&e));
        }
    }
    // A handoff ticket, used twice.
    let ticket = env.ticket("grace@example.com").await;
    secrets.push(ticket.clone());
    let link = format!("dev.latchkey.desktop://handoff?ticket={ticket}");
    // The flows refuse a handoff link (the engine quarantines it).
    errors.push(all_forms(
        &flows
            .handle(parse_deep_link(&link).unwrap())
            .await
            .unwrap_err(),
    ));
    let t = latchkey_core::SignInTicket::new(ticket.clone());
    flows.redeem_ticket(&t, Some(&session)).await.unwrap();
    errors.push(all_forms(
        &flows.redeem_ticket(&t, Some(&session)).await.unwrap_err(),
    ));
    // Redemption with a wrong verifier: the error names no secret.
    let fapi = env.fapi();
    let nonce = latchkey_core::RotatingNonce::new("canary-nonce-0123456789");
    let verifier = PkceVerifier::new("canary-verifier-0123456789-0123456789-01234");
    secrets.push(nonce.expose().to_owned());
    secrets.push(verifier.expose().to_owned());
    errors.push(all_forms(
        &fapi
            .redeem_hosted_auth(&nonce, &verifier)
            .await
            .unwrap_err(),
    ));
    // A transport error whose request URL carried a nonce in its query (the
    // OAuth reload): the error keeps reqwest's error as its source, without
    // the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = latchkey_core::Fapi::new(
        latchkey_core::Instance::local_demo(
            &format!("http://127.0.0.1:{closed}"),
            "ins_canary",
            "pk_test_x",
        )
        .unwrap(),
        None,
    )
    .unwrap();
    let nonce = latchkey_core::RotatingNonce::new("canary-transport-nonce-0123456789");
    secrets.push(nonce.expose().to_owned());
    let e = nowhere
        .reload_sign_in(&latchkey_core::SignInId("sia_canary".into()), &nonce)
        .await
        .unwrap_err();
    assert!(
        std::error::Error::source(&e).is_some(),
        "the transport error is kept for logs"
    );
    tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "logged as the app would");
    errors.push(all_forms(&e));

    // Debug and Display of every secret type are redacted.
    for s in [
        format!(
            "{:?} {}",
            ClientCredential::new("canary-a"),
            ClientCredential::new("canary-a")
        ),
        format!(
            "{:?} {}",
            SessionToken::new("canary-b"),
            SessionToken::new("canary-b")
        ),
        format!(
            "{:?} {}",
            PkceVerifier::new("canary-c"),
            PkceVerifier::new("canary-c")
        ),
        format!(
            "{:?} {}",
            SignInTicket::new("canary-d"),
            SignInTicket::new("canary-d")
        ),
        format!("{:?}", parse_deep_link(&link).unwrap()),
        format!("{:?}", flows.fapi()),
    ] {
        assert!(!s.contains("canary-"), "{s}");
        assert!(s.contains("redacted") || !s.is_empty());
        errors.push(s);
    }

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let mut hits = 0;
    for secret in &secrets {
        assert!(secret.len() >= 16, "a real secret value");
        for text in errors.iter().chain(std::iter::once(&logs)) {
            if text.contains(secret.as_str()) {
                hits += 1;
                eprintln!("secret leaked into: {text:.200}");
            }
        }
    }
    assert_eq!(hits, 0);
    eprintln!(
        "canary scan: {} secrets, {} log bytes, {} error strings, 0 hits",
        secrets.len(),
        logs.len(),
        errors.len()
    );
}

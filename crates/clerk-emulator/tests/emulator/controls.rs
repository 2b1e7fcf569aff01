//! Test controls: fault injection, the request log, the clock.

use std::time::Duration;

use clerk_emulator::{FaultAction, FaultRule};

use crate::common::*;

#[tokio::test]
async fn faults_hit_the_next_n_matching_calls() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let tokens = format!("/v1/client/sessions/{sid}/tokens");
    emu.add_fault(
        FaultRule::new(
            "/v1/client/sessions/*/tokens",
            FaultAction::Status {
                status: 503,
                code: "service_unavailable".into(),
                retry_after: Some("7".into()),
            },
        )
        .times(2),
    );
    for _ in 0..2 {
        let r = c.post(&tokens, &[]).await;
        assert_eq!((r.status, r.error_code()), (503, "service_unavailable"));
        assert_eq!(r.header("retry-after"), Some("7"));
    }
    assert_eq!(
        c.post(&tokens, &[]).await.status,
        200,
        "the rule is used up"
    );

    emu.add_fault(
        FaultRule::new(
            &tokens,
            FaultAction::Status {
                status: 429,
                code: "too_many_requests".into(),
                retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
            },
        )
        .times(1),
    );
    assert_eq!(
        c.post(&tokens, &[]).await.header("retry-after"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );

    emu.add_fault(FaultRule::new(&tokens, FaultAction::Html200).times(1));
    let r = c.post(&tokens, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));

    emu.add_fault(FaultRule::new(&tokens, FaultAction::Garbage200).times(1));
    let r = c.post(&tokens, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.json.is_null(), "not JSON");

    emu.add_fault(FaultRule::new(&tokens, FaultAction::TruncatedJson).times(1));
    let r = c.post(&tokens, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.text.starts_with("{\"jwt\"") || r.text.starts_with('{'));
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.text).is_err(),
        "truncated"
    );

    emu.add_fault(FaultRule::new(&tokens, FaultAction::Drop).times(1));
    let res = tower::ServiceExt::oneshot(
        emu.service(),
        axum::http::Request::post(Native::url(&tokens, &[]))
            .header("authorization", c.credential.clone().unwrap())
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(
        http_body_util::BodyExt::collect(res.into_body())
            .await
            .is_err(),
        "the body errors mid-stream"
    );

    // Method filter: a GET rule leaves POSTs alone.
    emu.add_fault(FaultRule::new(&tokens, FaultAction::Html200).method("GET"));
    assert_eq!(
        c.post(&tokens, &[]).await.header("content-type"),
        Some("application/json")
    );
    emu.clear_faults();

    // A fraction of calls.
    emu.add_fault(
        FaultRule::new(
            &tokens,
            FaultAction::Status {
                status: 500,
                code: "internal_clerk_error".into(),
                retry_after: None,
            },
        )
        .probability(0.5),
    );
    let mut failed = 0;
    for _ in 0..200 {
        if c.post(&tokens, &[]).await.status == 500 {
            failed += 1;
        }
    }
    assert!((50..=150).contains(&failed), "about half failed: {failed}");
}

#[tokio::test]
async fn delay_and_trickle_slow_the_answer() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    emu.add_fault(FaultRule::new("/v1/environment", FaultAction::Delay { ms: 300 }).times(1));
    let t = std::time::Instant::now();
    assert_eq!(c.get("/v1/environment").await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    emu.add_fault(
        FaultRule::new("/v1/client", FaultAction::Trickle { bytes_per_sec: 16 }).times(1),
    );
    let t = std::time::Instant::now();
    let r = c.get("/v1/client").await; // {"response":null,"client":null} = 33 bytes → 3 chunks
    assert_eq!(
        r.json,
        serde_json::json!({"response": null, "client": null})
    );
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "trickled over {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn request_log_records_method_path_query_and_headers() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    emu.clear_requests();
    let sid = c.sign_in_ticket("ada@example.com").await;
    c.post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await;
    let log = emu.requests();
    let sign_ins: Vec<_> = log
        .iter()
        .filter(|r| r.path == "/v1/client/sign_ins")
        .collect();
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(sign_ins[0].query_param("_is_native").as_deref(), Some("1"));
    assert_eq!(sign_ins[0].status, 200);
    assert_eq!(
        count(&emu, "POST", &format!("/v1/client/sessions/{sid}/tokens")),
        1
    );
    let tok = log.iter().find(|r| r.path.ends_with("/tokens")).unwrap();
    assert_eq!(tok.header("authorization"), c.credential.as_deref());
    assert_eq!(
        tok.header("user-agent"),
        Some("Latchkey/0.1.0 (Linux; x86_64)")
    );
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[tokio::test]
async fn controls_are_scriptable_over_http_with_the_secret_key() {
    let emu = start().await;
    let base = emu.frontend_api_url().to_owned();
    let http = http().build().unwrap();
    let sk = emu.secret_key().to_owned();
    assert_eq!(
        http.get(format!("{base}/__emulator/requests"))
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the secret key is required"
    );
    let rule = serde_json::json!({"path": "/v1/environment", "times": 1, "action": {"kind": "status", "status": 503, "code": "service_unavailable", "retry_after": "9"}});
    assert_eq!(
        http.post(format!("{base}/__emulator/faults"))
            .bearer_auth(&sk)
            .json(&rule)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let r = http
        .get(format!("{base}/v1/environment"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["retry-after"].to_str().unwrap()
        ),
        (503, "9")
    );
    assert_eq!(
        http.get(format!("{base}/v1/environment"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let bad = http
        .post(format!("{base}/__emulator/faults"))
        .bearer_auth(&sk)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    let before = emu.now_ms();
    let clock: serde_json::Value = http
        .post(format!("{base}/__emulator/clock"))
        .bearer_auth(&sk)
        .json(&serde_json::json!({"ms": 60000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(clock["now_ms"].as_i64().unwrap() >= before + 60_000);
    let log: Vec<serde_json::Value> = http
        .get(format!("{base}/__emulator/requests"))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        log.iter()
            .filter(|r| r["path"] == "/v1/environment")
            .count(),
        2
    );
    assert!(
        log.iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/__emulator")),
        "admin calls are not logged"
    );
    assert_eq!(
        http.delete(format!("{base}/__emulator/requests"))
            .bearer_auth(&sk)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(emu.requests().is_empty());
    assert_eq!(
        http.post(format!("{base}/__emulator/rate_limits"))
            .bearer_auth(&sk)
            .json(&serde_json::json!({"enabled": true}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn date_follows_the_clock_and_tokens_can_be_served_stale_or_replaced() {
    let emu = start().await;
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let tokens = format!("/v1/client/sessions/{sid}/tokens");
    let date_of = |r: &Resp| {
        let d = httpdate::parse_http_date(r.header("date").expect("a Date header")).unwrap();
        d.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    };
    // `Date` is the emulator's clock, wherever it was moved.
    let r = c.get("/v1/client").await;
    assert!((date_of(&r) - emu.now_ms() / 1000).abs() <= 1);
    emu.rewind_clock(Duration::from_secs(50));
    let r = c.get("/v1/client").await;
    assert!((date_of(&r) - emu.now_ms() / 1000).abs() <= 1);
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (real - date_of(&r) - 50).abs() <= 1,
        "50 s behind real time"
    );

    // A stale token: minted two minutes before the emulator's now.
    emu.add_fault(FaultRule::new(&tokens, FaultAction::StaleToken { secs: 120 }).times(1));
    let r = c.post(&tokens, &[]).await;
    let (_, claims) = decode_jwt(r.json["jwt"].as_str().unwrap());
    let now = emu.now_ms() / 1000;
    assert!((now - claims["iat"].as_i64().unwrap() - 120).abs() <= 1);
    assert!(claims["exp"].as_i64().unwrap() < now, "already expired");
    let r = c.post(&tokens, &[]).await;
    let (_, claims) = decode_jwt(r.json["jwt"].as_str().unwrap());
    assert!(claims["exp"].as_i64().unwrap() > now, "the rule is used up");

    // Any body, as a later Clerk might answer.
    emu.add_fault(
        FaultRule::new(
            "/v1/client",
            FaultAction::Json200 {
                body: serde_json::json!({"response": {"id": "client_x", "new": true}}),
            },
        )
        .times(1),
    );
    let r = c.get("/v1/client").await;
    assert_eq!(r.json["response"]["new"], true);
}

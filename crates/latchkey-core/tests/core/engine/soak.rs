//! The soak: three accounts on two instances (one of them single-session),
//! each asked for a token without pause, for `LATCHKEY_SOAK_CYCLES` refresh
//! cycles each (100 in `make test`, 1,000 in `make proof`) on simulated
//! time, with one token request in ten faulted (the fault's kind changes
//! every few minutes). A fourth account signs in to the multi-session
//! instance and out again every half hour (Clerk rotates the client's
//! credential at each sign-in). Every failure must have an injected cause; no account is
//! lost; no token handed out is expired; a credential is written to secure
//! storage once per rotation Clerk made, never otherwise; memory stays
//! flat.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Secure storage that counts writes: of credentials (what the soak
/// compares with the credential rotations Clerk made) and of the index.
struct Counting {
    inner: MemoryStore,
    sets: AtomicUsize,
    index_sets: AtomicUsize,
}

impl SecretStore for Counting {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key == "index" {
            self.index_sets.fetch_add(1, Ordering::SeqCst);
        } else {
            self.sets.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn describe(&self) -> &'static str {
        "counting"
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The credentials a client was asked with (each distinct `Authorization`
/// is one the engine held): rotations = distinct values − 1.
fn credentials_used(env: &Env) -> std::collections::BTreeSet<String> {
    env.emu
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn soak_three_accounts_two_instances_ten_percent_faults() {
    let cycles: usize = std::env::var("LATCHKEY_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let single = env().await;
    single.emu.set_single_session_mode(true);
    let multi = env().await;
    let store = Arc::new(Counting {
        inner: MemoryStore::new(),
        sets: AtomicUsize::new(0),
        index_sets: AtomicUsize::new(0),
    });
    let clock = Arc::new(TestClock::new());
    let cfg = config(&temp_dir(), store.clone(), Duration::from_secs(5), &clock);
    let engine = Engine::open(cfg).await.unwrap();
    engine.add_instance(multi.instance.clone()).await.unwrap();
    engine.add_instance(single.instance.clone()).await.unwrap();
    let ada = sign_in(&engine, &multi, "ada@example.com").await;
    let grace = sign_in(&engine, &multi, "grace@example.com").await;
    let alan = sign_in(&engine, &single, "alan@example.com").await;
    let accounts = [
        (&multi, ada.clone()),
        (&multi, grace.clone()),
        (&single, alan.clone()),
    ];
    let sim = Sim::new(&clock, &[&multi, &single]);
    let faults = [
        status_fault(503, "unavailable", None),
        status_fault(429, "too_many_requests", Some("1")),
        FaultAction::Drop,
        FaultAction::Html200,
        FaultAction::TruncatedJson,
        status_fault(500, "internal", None),
        FaultAction::Garbage200,
        status_fault(502, "bad_gateway", None),
        status_fault(504, "gateway_timeout", None),
    ];
    let sets_before = store.sets.load(Ordering::SeqCst);
    let index_before = store.index_sets.load(Ordering::SeqCst);
    // The credential each client used before the soak.
    let mut creds: [std::collections::BTreeSet<String>; 2] =
        [&multi, &single].map(credentials_used);
    let creds_before: Vec<usize> = creds.iter().map(|c| c.len()).collect();
    multi.emu.clear_requests();
    single.emu.clear_requests();
    let step = Duration::from_secs(2);
    let mut failures = 0usize;
    let mut unexplained = Vec::new();
    let mut handed = 0usize;
    let mut least_left_ms = i64::MAX;
    let mut injected = 0usize;
    let mut successes = [0usize; 3];
    let mut rss = Vec::new();
    let mut iteration = 0usize;
    let mut katherine: Option<AccountRef> = None;
    let (mut sign_ins, mut sign_outs) = (0usize, 0usize);
    while successes.iter().any(|n| *n < cycles) {
        // The fault's kind changes every 5 simulated minutes; between two
        // kinds (no fault armed), every half hour, Katherine signs in to
        // the multi-session client, and out a quarter of an hour later.
        if iteration.is_multiple_of(150) {
            for e in [&multi, &single] {
                e.emu.clear_faults();
            }
            let period = iteration / 150;
            if period % 6 == 3 {
                katherine = Some(sign_in(&engine, &multi, "katherine@example.com").await);
                sign_ins += 1;
            } else if let Some(k) = katherine.take_if(|_| period.is_multiple_of(6)) {
                engine.sign_out(&k).await.expect("Katherine signs out");
                sign_outs += 1;
            }
            let action = faults[period % faults.len()].clone();
            for e in [&multi, &single] {
                e.emu.add_fault(
                    FaultRule::new("/v1/client/sessions/*/tokens", action.clone()).probability(0.1),
                );
            }
        }
        iteration += 1;
        assert!(
            iteration < cycles * 200,
            "the soak does not progress: {successes:?}"
        );
        sim.advance(step);
        engine.tick().await;
        for (env, acct) in accounts.iter() {
            let seq_before = env.emu.requests().last().map_or(0, |r| r.seq);
            match engine.get_token(acct, None, OrgSel::Active).await {
                Ok(t) => {
                    handed += 1;
                    let exp = decode_unverified(t.expose())
                        .and_then(|c| c["exp"].as_i64())
                        .unwrap_or(0);
                    let left = exp * 1000 - emu_now(env);
                    least_left_ms = least_left_ms.min(left);
                    assert!(left > 0, "an expired token was handed out ({left} ms)");
                }
                Err(e) => {
                    failures += 1;
                    assert_ne!(
                        e.kind(),
                        &ErrorKind::SessionGone,
                        "{acct:?} signed out: {e}"
                    );
                    // Its own request was faulted; or Clerk's 429 with
                    // `Retry-After` (to any account of the instance, this
                    // step) holds every request to the instance.
                    let held = matches!(e.kind(), ErrorKind::RateLimited { .. });
                    let cause = env.emu.requests().iter().any(|r| {
                        r.fault.is_some()
                            && ((r.seq > seq_before && r.path.contains(acct.session_id.as_str()))
                                || (held && r.status == 429))
                    });
                    if !cause {
                        unexplained.push(format!("{acct:?}: {e}"));
                    }
                }
            }
        }
        // This step's requests, tallied (the log is emptied each step so
        // it stays short).
        for (i, e) in [&multi, &single].into_iter().enumerate() {
            for r in e.emu.requests() {
                injected += usize::from(r.fault.is_some());
                if let Some(c) = r.header("authorization") {
                    creds[i].insert(c.to_owned());
                }
                for (n, (_, acct)) in accounts.iter().enumerate() {
                    if r.path.contains(acct.session_id.as_str())
                        && r.path.ends_with("/tokens")
                        && r.status == 200
                        && r.fault.is_none()
                    {
                        successes[n] += 1;
                    }
                }
            }
            e.emu.clear_requests();
        }
        if iteration.is_multiple_of(2000) {
            rss.push(rss_kib());
        }
    }
    rss.push(rss_kib());
    // Katherine out (if in), and a minute on, so each instance's last
    // credential has been used in a request (that is how rotations are
    // counted).
    for e in [&multi, &single] {
        e.emu.clear_faults();
    }
    if let Some(k) = katherine.take() {
        engine.sign_out(&k).await.expect("Katherine signs out");
        sign_outs += 1;
    }
    for _ in 0..30 {
        sim.advance(step);
        engine.tick().await;
    }
    for (i, e) in [&multi, &single].into_iter().enumerate() {
        for r in e.emu.requests() {
            if let Some(c) = r.header("authorization") {
                creds[i].insert(c.to_owned());
            }
        }
    }
    for e in [&multi, &single] {
        injected += e
            .emu
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
    }
    let rotations: usize = creds
        .iter()
        .zip(&creds_before)
        .map(|(c, before)| c.len() - before)
        .sum();
    let sets = store.sets.load(Ordering::SeqCst) - sets_before;
    let index_sets = store.index_sets.load(Ordering::SeqCst) - index_before;
    let left = engine.accounts().await;
    assert_eq!(left.len(), 3, "accounts lost: {left:?}");
    for (_, acct) in &accounts {
        assert!(
            left.iter().any(|a| &a.account == acct),
            "a spurious sign-out of {acct:?}"
        );
    }
    assert!(
        unexplained.is_empty(),
        "failures with no injected cause: {unexplained:?}"
    );
    assert!(injected > 0, "no fault was injected");
    // A credential is written once per rotation Clerk made (each of
    // Katherine's sign-ins rotates the client's), never otherwise.
    assert!(
        rotations >= sign_ins && sign_ins >= 1,
        "{rotations} rotations for {sign_ins} sign-ins"
    );
    assert_eq!(
        sets, rotations,
        "{sets} credential writes to secure storage for {rotations} rotations"
    );
    let (first, last) = (
        rss.first().copied().unwrap_or(0),
        rss.last().copied().unwrap_or(0),
    );
    eprintln!(
        "soak: {cycles} refresh cycles each for 3 accounts on 2 instances ({} simulated hours), \
         {injected} faults injected, {failures} failed token calls (all with an injected cause), \
         {handed} tokens handed out (least life left {least_left_ms} ms), 0 accounts lost, \
         a fourth account signed in {sign_ins} times and out {sign_outs} times, {rotations} credential rotations, \
         {sets} credential writes to secure storage ({index_sets} index writes), \
         RSS {first} → {last} KiB (samples {rss:?})",
        sim.moved().as_secs() / 3600
    );
}

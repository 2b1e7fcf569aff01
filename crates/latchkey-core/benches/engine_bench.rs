//! `make bench`: the session engine.
//!
//! - token reads per second from the in-memory cache (goal ≥ 1 M/s);
//! - requests per hour in steady state, from the emulator's request log
//!   (goal ≤ 90 for the active session, token refreshes included; ≤ 12 per
//!   background account). Time runs 60× fast: 1 s tokens instead of 60 s,
//!   and every interval divided by 60, so 60 s of wall time is one hour.
//!
//! Results replace the engine section of `docs/benchmarks.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_emulator::{Emulator, EmulatorConfig, KeyMaterial};
use latchkey_core::engine::{AccountRef, Engine, EngineConfig, OrgSel};
use latchkey_core::store::{Keychain, MemoryStore};
use latchkey_core::{Instance, Outcome, Redirect};

const SPEEDUP: u32 = 60;

async fn sign_in(
    engine: &Engine,
    emu: &clerk_emulator::EmulatorHandle,
    instance: &Instance,
    email: &str,
) -> AccountRef {
    let started = engine
        .start_sign_in(instance.id(), None, Redirect::DeepLink)
        .await
        .unwrap();
    let attempt = started.url.split("attempt=").nth(1).unwrap().to_owned();
    let http = latchkey_core::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let uid = emu.user_id(email).unwrap();
    let res = http
        .post(format!("{}/hosted/sign-in", emu.frontend_api_url()))
        .form(&[("attempt", attempt.as_str()), ("user_id", uid.as_str())])
        .send()
        .await
        .unwrap();
    let cb = res.headers()["location"].to_str().unwrap().to_owned();
    let Outcome::SignedIn { session, .. } = engine.handle_deep_link(&cb).await.unwrap() else {
        panic!()
    };
    AccountRef {
        instance_id: instance.id().to_owned(),
        session_id: session,
    }
}

fn write_section(section: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let (begin, end) = ("<!-- engine:begin -->", "<!-- engine:end -->");
    let current = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let block = format!("{begin}\n{section}{end}");
    let next = match (current.find(begin), current.find(end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{}{}", &current[..b], block, &current[e + end.len()..])
        }
        _ => format!("{}\n\n{}\n", current.trim_end(), block),
    };
    std::fs::write(&path, next).unwrap();
    println!("updated {}", path.display());
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = EmulatorConfig { key_material: Some(KeyMaterial::generate().unwrap()), rate_limits: false, token_lifetime: Duration::from_secs(60 / SPEEDUP as u64), ..EmulatorConfig::default() };
        let emu = Emulator::start(cfg).await.unwrap();
        let instance = Instance::local_demo(emu.frontend_api_url(), emu.instance_id(), emu.publishable_key()).unwrap();
        let dir = std::env::temp_dir().join(format!("latchkey-bench-{}", std::process::id()));
        let mut ecfg = EngineConfig::new(dir.clone(), Keychain::new(Arc::new(MemoryStore::new()), Duration::from_secs(5)));
        ecfg.max_tick /= SPEEDUP;
        ecfg.background_every /= SPEEDUP;
        ecfg.devices_every /= SPEEDUP;
        let engine = Engine::open(ecfg).await.unwrap();
        engine.add_instance(instance.clone()).await.unwrap();
        let background = sign_in(&engine, &emu, &instance, "grace@example.com").await;
        let active = sign_in(&engine, &emu, &instance, "ada@example.com").await;
        engine.switch(&active).await.unwrap();

        // 1. Cached token reads.
        engine.get_token(&active, None, OrgSel::Active).await.unwrap();
        let t = Instant::now();
        let mut reads = 0u64;
        while t.elapsed() < Duration::from_millis(300) {
            for _ in 0..1000 {
                std::hint::black_box(engine.get_token(&active, None, OrgSel::Active).await.unwrap());
            }
            reads += 1000;
        }
        // (One batch is discarded as warm-up.)
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < Duration::from_secs(2) {
            for _ in 0..1000 {
                std::hint::black_box(engine.get_token(&active, None, OrgSel::Active).await.unwrap());
            }
            n += 1000;
        }
        let per_sec = n as f64 / t.elapsed().as_secs_f64();
        println!("cached token reads: {per_sec:.0}/s (after {reads} warm-up reads)");

        // 2. Steady state for one (scaled) hour.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let bg = engine.start_background(stop_rx);
        tokio::time::sleep(Duration::from_secs(3)).await; // settle
        emu.clear_requests();
        let hour = Duration::from_secs(3600 / SPEEDUP as u64);
        tokio::time::sleep(hour).await;
        let _ = stop_tx.send(true);
        let _ = bg.await;
        let log = emu.requests();
        let by = |sid: &str| log.iter().filter(|r| r.path.contains(sid) || r.query.contains(sid)).count();
        let active_n = by(active.session_id.as_str());
        let active_tokens = log.iter().filter(|r| r.path.ends_with(&format!("{}/tokens", active.session_id))).count();
        let background_n = by(background.session_id.as_str());
        let client_reads = log.iter().filter(|r| r.path == "/v1/client").count();
        let other = log.len() - active_n - background_n - client_reads;
        println!("one hour: active {active_n} ({active_tokens} token refreshes), background account {background_n}, client re-reads {client_reads}, other {other}");
        assert!(engine.accounts().await.len() == 2);
        std::fs::remove_dir_all(&dir).ok();

        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let date = std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
        let section = format!(
            "## Session engine (`make bench`)\n\n\
Measured {date}, release build, against the emulator on loopback. The steady-state hour runs 60× fast: \
1 s tokens and every interval divided by 60, so 60 s of wall time stand for one hour (the refresh fractions \
17/60 and 5/60 of a token's life are the same).\n\n\
| measure | result | goal |\n| --- | --- | --- |\n\
| token reads from the cache, 1 task | **{per_sec:.0}/s** | ≥ 1,000,000/s: {g1} |\n\
| requests per hour, active session (token refreshes + device list) | **{active_n}** ({active_tokens} token refreshes) | ≤ 90: {g2} |\n\
| requests per hour, a background account | **{background_n}** | ≤ 12: {g3} |\n\
| client re-reads per hour, per instance (serve every account of it) | {client_reads} | ≤ 12 |\n\
| other requests in the hour | {other} | — |\n\n\
Regenerate: `make bench` (writes this section).\n\n",
            g1 = verdict(per_sec >= 1_000_000.0),
            g2 = verdict(active_n <= 90),
            g3 = verdict(background_n <= 12),
        );
        write_section(&section);
    });
}

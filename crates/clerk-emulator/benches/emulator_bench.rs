//! `make bench`: the emulator's throughput on loopback.
//!
//! - `GET /v1/client` per second (goal ≥ 5,000 on 2 cores);
//! - session-token minting over HTTP against the raw RS256 signing rate of
//!   the same crate (`jsonwebtoken` + `rsa`), both using every core (goal:
//!   minting ≥ 80 % of raw).
//!
//! Server and load generator share the machine (same process, same cores),
//! so the HTTP figures include the client's own cost. Results replace the
//! emulator section of `docs/benchmarks.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clerk_emulator::{Emulator, EmulatorConfig, KeyMaterial};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const WARMUP: Duration = Duration::from_millis(500);
const RUN: Duration = Duration::from_secs(5);

/// A `reqwest` client builder. In a workspace build reqwest is compiled with
/// `rustls-no-provider` (for latchkey-core), which panics in `build()` unless
/// a rustls crypto provider is installed: install ring first.
fn http() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn raw_signing_rate(material: &KeyMaterial, threads: usize) -> f64 {
    let key =
        Arc::new(EncodingKey::from_rsa_pem(material.rsa_private_pem.as_bytes()).expect("pem"));
    let claims = json!({"exp": 2_000_000_000, "fva": [0, -1], "iat": 1_999_999_940, "iss": "http://127.0.0.1:1", "jti": "abcdefghijklmnopqrst", "nbf": 1_999_999_930, "sid": "sess_2abcdefghijklmnopqrstuvwxyz", "sts": "active", "sub": "user_2abcdefghijklmnopqrstuvwxyz", "v": 2});
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (key, claims, stop, count) =
                (key.clone(), claims.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some("ins_bench".into());
                while !stop.load(Ordering::Relaxed) {
                    jsonwebtoken::encode(&header, &claims, &key).expect("sign");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(WARMUP);
    let start_count = count.load(Ordering::Relaxed);
    let t = Instant::now();
    std::thread::sleep(RUN);
    let n = count.load(Ordering::Relaxed) - start_count;
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("thread");
    }
    n as f64 / secs
}

/// Runs `concurrency` loops of `req` for WARMUP + RUN; requests per second.
async fn http_rate(
    concurrency: usize,
    req: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>,
) -> (f64, u64) {
    let client = http()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, req, stop, counting, ok, failed) = (
                client.clone(),
                req.clone(),
                stop.clone(),
                counting.clone(),
                ok.clone(),
                failed.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let good = match req(&client).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if counting.load(Ordering::Relaxed) {
                        if good {
                            ok.fetch_add(1, Ordering::Relaxed)
                        } else {
                            failed.fetch_add(1, Ordering::Relaxed)
                        };
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(WARMUP).await;
    counting.store(true, Ordering::Relaxed);
    let t = Instant::now();
    tokio::time::sleep(RUN).await;
    counting.store(false, Ordering::Relaxed);
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (
        ok.load(Ordering::Relaxed) as f64 / secs,
        failed.load(Ordering::Relaxed),
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn write_section(section: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let (begin, end) = ("<!-- emulator:begin -->", "<!-- emulator:end -->");
    let current = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let block = format!("{begin}\n{section}{end}");
    let next = match (current.find(begin), current.find(end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{}{}", &current[..b], block, &current[e + end.len()..])
        }
        _ => format!("{}\n{}\n", current.trim_end(), block),
    };
    std::fs::write(&path, next).expect("write docs/benchmarks.md");
    println!("updated {}", path.display());
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let material = KeyMaterial::generate().expect("keys");
        let cfg = EmulatorConfig { key_material: Some(material.clone()), rate_limits: false, ..EmulatorConfig::default() };
        let emu = Emulator::start(cfg).await.expect("start");
        let base = emu.frontend_api_url().to_owned();
        let http = http().build().unwrap();
        let users: Value = http.get(format!("{}/v1/users?email_address=ada@example.com", emu.backend_api_url())).bearer_auth(emu.secret_key()).send().await.unwrap().json().await.unwrap();
        let uid = users[0]["id"].as_str().unwrap().to_owned();
        let t: Value = http.post(format!("{}/v1/sign_in_tokens", emu.backend_api_url())).bearer_auth(emu.secret_key()).json(&json!({"user_id": uid, "expires_in_seconds": 300})).send().await.unwrap().json().await.unwrap();
        let res = http.post(format!("{base}/v1/client/sign_ins?_is_native=1")).form(&[("strategy", "ticket"), ("ticket", t["token"].as_str().unwrap())]).send().await.unwrap();
        let cred = res.headers().get("authorization").unwrap().to_str().unwrap().to_owned();
        let body: Value = res.json().await.unwrap();
        let sid = body["response"]["created_session_id"].as_str().unwrap().to_owned();

        let n = cores();
        println!("machine: {} cores, {}", n, cpu_model());
        let raw1 = raw_signing_rate(&material, 1);
        println!("raw RS256 signing, 1 thread: {raw1:.0}/s");
        let raw_all = raw_signing_rate(&material, n);
        println!("raw RS256 signing, {n} threads: {raw_all:.0}/s");

        let (c, b) = (cred.clone(), base.clone());
        let get_client: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> =
            Arc::new(move |cl| cl.get(format!("{b}/v1/client?_is_native=1&__clerk_api_version=2026-05-12")).header("authorization", &c));
        let (client_rate, client_fail) = http_rate(32, get_client).await;
        println!("GET /v1/client: {client_rate:.0}/s ({client_fail} failed)");

        let (c, b, s) = (cred.clone(), base.clone(), sid.clone());
        let mint: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> =
            Arc::new(move |cl| cl.post(format!("{b}/v1/client/sessions/{s}/tokens?_is_native=1&__clerk_api_version=2026-05-12")).header("authorization", &c));
        let (mint_rate, mint_fail) = http_rate(2 * n, mint).await;
        let ratio = mint_rate / raw_all;
        println!("POST …/tokens: {mint_rate:.0}/s ({mint_fail} failed), {:.0} % of raw signing on {n} threads", ratio * 100.0);
        emu.shutdown().await;

        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        let section = format!(
            "## Emulator (`make bench`)\n\n\
Measured {date} on {n} cores ({cpu}), release build, server and load generator in one process \
sharing the cores (so the HTTP figures include the client's cost). {run} s per figure after {warm} ms warm-up.\n\n\
| measure | result | goal |\n| --- | --- | --- |\n\
| `GET /v1/client` (32 concurrent, one signed-in session, full user JSON) | **{client_rate:.0} req/s** ({client_fail} failed) | ≥ 5,000 req/s: {g1} |\n\
| raw RS256 signing, `jsonwebtoken` + `rsa`, 1 thread | {raw1:.0} signatures/s | — |\n\
| raw RS256 signing, {n} threads | {raw_all:.0} signatures/s | — |\n\
| `POST /v1/client/sessions/{{id}}/tokens` ({c2} concurrent) | **{mint_rate:.0} tokens/s** ({mint_fail} failed) = **{pct:.0} %** of raw on {n} threads | ≥ 80 %: {g2} |\n\n\
Regenerate: `make bench` (writes this section).\n\n",
            date = date(),
            cpu = cpu_model(),
            run = RUN.as_secs(),
            warm = WARMUP.as_millis(),
            g1 = verdict(client_rate >= 5000.0),
            c2 = 2 * n,
            pct = ratio * 100.0,
            g2 = verdict(ratio >= 0.8),
        );
        write_section(&section);
    });
}

fn date() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

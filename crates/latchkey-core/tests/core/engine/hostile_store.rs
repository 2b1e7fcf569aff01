//! Hostile bytes in secure storage, generated: the account index and each
//! credential entry of a real signed-in state, flipped, cut, extended or
//! replaced (framing kept or not), then the engine opens on it. Nothing
//! panics, opening writes nothing (an entry it cannot read is left for a
//! newer Latchkey or for the user, never "repaired" away), no instance
//! appears that the real state did not have, and none points anywhere new
//! (a Clerk instance's host is its id; the local demo stays on loopback).
//! `LATCHKEY_FUZZ_CASES` sets the count (1,000 here; `make proof`: 100,000).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::*;

struct Template {
    entries: Vec<(String, Vec<u8>)>,
    instances: BTreeSet<(String, String)>,
}

/// A real state: two accounts on one instance, one on another.
fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let env = crate::common::env().await;
                let other = crate::common::env().await;
                let r = rig(&env).await;
                r.engine.add_instance(other.instance.clone()).await.unwrap();
                sign_in(&r.engine, &env, "ada@example.com").await;
                sign_in(&r.engine, &env, "grace@example.com").await;
                sign_in(&r.engine, &other, "alan@example.com").await;
                tokio::time::sleep(Duration::from_millis(150)).await;
                let instances = r
                    .engine
                    .instances()
                    .await
                    .iter()
                    .map(|i| (i.id().to_owned(), i.frontend_api().to_string()))
                    .collect();
                let entries = r
                    .store
                    .keys()
                    .into_iter()
                    .filter_map(|k| r.store.raw(&k).map(|v| (k, v)))
                    .collect();
                Template { entries, instances }
            })
        })
        .join()
        .unwrap()
    })
}

/// Instances named by a damaged index that the real state did not have
/// (reported; they hold no credential).
fn phantoms() -> &'static std::sync::atomic::AtomicUsize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    &N
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

fn cases() -> u32 {
    std::env::var("LATCHKEY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

#[derive(Debug, Clone)]
enum Damage {
    Flip {
        at: usize,
        xor: u8,
    },
    Cut {
        keep: usize,
    },
    Append(Vec<u8>),
    /// The first `keep` bytes (the framing), then these.
    Splice {
        keep: usize,
        with: Vec<u8>,
    },
    Replace(Vec<u8>),
    /// A JSON value of another shape under the framing.
    Json(String),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Damage::Flip { at, xor }),
        any::<usize>().prop_map(|keep| Damage::Cut { keep }),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Append),
        (0usize..8, prop::collection::vec(any::<u8>(), 0..128))
            .prop_map(|(keep, with)| Damage::Splice { keep, with }),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Damage::Replace),
        prop::sample::select(vec![
            "null",
            "[]",
            "{}",
            "\"x\"",
            "1e999",
            "-1",
            "{\"v\":99}",
            "{\"v\":1,\"instances\":[{}]}",
            "{\"v\":1,\"instances\":null}",
            "{\"seq\":18446744073709551615,\"credential\":null}",
            "{\"seq\":-1}",
            "{\"credential\":\"\"}",
            "{\"v\":1,\"active\":{}}",
        ])
        .prop_map(|s| Damage::Json(s.to_owned())),
    ]
}

fn apply(good: &[u8], d: &Damage) -> Vec<u8> {
    let mut b = good.to_vec();
    match d {
        Damage::Flip { at, xor } if !b.is_empty() => {
            let i = at % b.len();
            b[i] ^= xor;
        }
        Damage::Flip { .. } => {}
        Damage::Cut { keep } => b.truncate(keep % (b.len() + 1)),
        Damage::Append(more) => b.extend_from_slice(more),
        Damage::Splice { keep, with } => {
            b.truncate((*keep).min(b.len()));
            b.extend_from_slice(with);
        }
        Damage::Replace(with) => b = with.clone(),
        Damage::Json(j) => {
            b.truncate(4.min(b.len()));
            b.extend_from_slice(j.as_bytes());
        }
    }
    b
}

#[test]
fn property_hostile_secure_storage_is_read_safely_and_never_rewritten() {
    let mut config = ProptestConfig::with_cases(cases());
    // A plain test, not the macro: no source file to persist failures in
    // (a failure prints its minimal input; it becomes a named test).
    config.failure_persistence = None;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let damaged = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&(any::<usize>(), damage()), |(which, d)| {
        damaged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        one_case(which, d)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "hostile secure storage: {} damaged states ({} entries of a real one: index and credentials), \
         0 panics, 0 writes at open, 0 instances pointing elsewhere; {} unknown instance ids named by a damaged index (credentials are keyed by the id they were written under)",
        damaged.load(std::sync::atomic::Ordering::Relaxed),
        template().entries.len(),
        phantoms().load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// Every entry of the store, as it is.
fn contents(store: &MemoryStore) -> Vec<(String, Option<Vec<u8>>)> {
    store
        .keys()
        .into_iter()
        .map(|k| {
            let v = store.raw(&k);
            (k, v)
        })
        .collect()
}

fn one_case(which: usize, d: Damage) -> Result<(), TestCaseError> {
    {
        let t = template();
        let store = Arc::new(MemoryStore::new());
        for (k, v) in &t.entries {
            store.put_raw(k, v);
        }
        let (key, good) = &t.entries[which % t.entries.len()];
        store.put_raw(key, &apply(good, &d));
        let before = contents(&store);
        let dir = temp_dir();
        let opened = runtime().block_on(async {
            let mut cfg = EngineConfig::new(
                dir.clone(),
                Keychain::new(store.clone(), Duration::from_secs(5)),
            );
            cfg.probe_storage = false;
            let engine = Engine::open(cfg).await?;
            let instances: BTreeSet<(String, String)> = engine
                .instances()
                .await
                .iter()
                .map(|i| (i.id().to_owned(), i.frontend_api().to_string()))
                .collect();
            let _ = engine.accounts().await;
            Ok::<_, latchkey_core::Error>(instances)
        });
        let _ = std::fs::remove_dir_all(&dir);
        let instances =
            opened.map_err(|e| TestCaseError::fail(format!("{key} {d:?}: open failed: {e}")))?;
        let after = contents(&store);
        prop_assert!(
            before == after,
            "{key} {d:?}: opening wrote to secure storage"
        );
        // Every instance points where its id says: a Clerk instance's
        // Frontend API is the host its id names, a local demo's is on
        // loopback. (A damaged index can name an instance id the real state
        // did not have; credentials are read under the id they were written
        // under, so such an instance has none.)
        for (id, url) in &instances {
            let u = url::Url::parse(url).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if id.starts_with("local:") {
                prop_assert!(
                    u.scheme() == "http"
                        && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback()),
                    "{key} {d:?}: a local instance off loopback: {url}"
                );
            } else {
                prop_assert_eq!(
                    id.strip_prefix("clerk:"),
                    u.host_str(),
                    "{} {:?}: a Clerk instance pointing elsewhere",
                    key,
                    d
                );
                prop_assert_eq!(u.scheme(), "https");
            }
            if !t.instances.iter().any(|(i, _)| i == id) {
                phantoms().fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

//! One conformance suite for both secret stores: always on the in-memory
//! store, and on the real Secret Service (gnome-keyring in a private D-Bus
//! session, see tests/with-keyring.sh; `make test` requires it). Plus the
//! states a user can meet: no Secret Service, a locked keyring, a hung
//! store, corrupt entries.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_core::store::{
    CHUNK, Keychain, KeychainStore, MemoryStore, Op, SecretStore, StoreError, StoreErrorKind,
    platform_store,
};

fn random_service() -> String {
    format!(
        "dev.latchkey.test.{}",
        latchkey_core::new_state().replace(['-', '_'], "x")
    )
}

/// True when a Secret Service answers; fails the test when `make test`
/// requires one and it is missing.
fn keychain_available() -> bool {
    let required = std::env::var("LATCHKEY_REQUIRE_KEYCHAIN").is_ok();
    let ok = KeychainStore::new(random_service())
        .set("probe", b"x")
        .is_ok();
    if ok {
        let _ = KeychainStore::new(random_service()).delete("probe");
    }
    assert!(
        ok || !required,
        "LATCHKEY_REQUIRE_KEYCHAIN is set but no Secret Service answered"
    );
    if !ok {
        eprintln!("no Secret Service here: run under tests/with-keyring.sh (make test does)");
    }
    ok
}

async fn conformance(store: Arc<dyn SecretStore>) {
    let k = Keychain::new(store.clone(), Duration::from_secs(10));
    // Missing entry.
    assert_eq!(k.get("missing").await.unwrap(), None);
    k.delete("missing").await.unwrap();
    // Round trip, overwrite, delete twice.
    k.set("cred", b"first").await.unwrap();
    assert_eq!(k.get("cred").await.unwrap().as_deref(), Some(&b"first"[..]));
    k.set("cred", b"second").await.unwrap();
    assert_eq!(
        k.get("cred").await.unwrap().as_deref(),
        Some(&b"second"[..])
    );
    k.delete("cred").await.unwrap();
    k.delete("cred").await.unwrap();
    assert_eq!(k.get("cred").await.unwrap(), None);
    // Non-ASCII keys and values, binary, empty.
    k.set("clé:ünïcode", "välue ✓".as_bytes()).await.unwrap();
    assert_eq!(
        k.get("clé:ünïcode").await.unwrap().unwrap(),
        "välue ✓".as_bytes()
    );
    k.set("bin", &[0u8, 255, 1, 254]).await.unwrap();
    assert_eq!(k.get("bin").await.unwrap().unwrap(), vec![0u8, 255, 1, 254]);
    k.set("empty", b"").await.unwrap();
    assert_eq!(k.get("empty").await.unwrap().unwrap(), Vec::<u8>::new());
    // Larger than one part (Windows' 2,560-byte limit): split, reassembled.
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    k.set("big", &big).await.unwrap();
    assert_eq!(k.get("big").await.unwrap().unwrap(), big);
    for key in ["big", "big#1", "big#2", "big#3"] {
        let raw = store.get(key).unwrap().unwrap();
        assert!(
            raw.len() <= CHUNK + 100,
            "{key}: {} bytes stored",
            raw.len()
        );
    }
    // A missing part makes the entry unreadable, never wrong.
    store.delete("big#2").unwrap();
    assert_eq!(
        k.get("big").await.unwrap_err().kind,
        StoreErrorKind::Corrupt
    );
    k.delete("big").await.unwrap();
    assert_eq!(
        store.get("big#1").unwrap(),
        None,
        "parts deleted with the head"
    );
    // A foreign entry is reported, not misread.
    store
        .set("foreign", b"plain text someone else wrote")
        .unwrap();
    assert_eq!(
        k.get("foreign").await.unwrap_err().kind,
        StoreErrorKind::Corrupt
    );
    k.probe().await.unwrap();
    for key in ["clé:ünïcode", "bin", "empty", "foreign"] {
        k.delete(key).await.unwrap();
    }
}

#[tokio::test]
async fn memory_store_passes_the_suite() {
    conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn os_keychain_passes_the_suite() {
    if !keychain_available() {
        return;
    }
    let service = random_service();
    conformance(Arc::new(KeychainStore::new(service.clone()))).await;
    // Nothing left behind.
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", &service])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty()
            && String::from_utf8_lossy(&out.stderr).trim().is_empty()
            || !out.status.success()
    );
}

#[tokio::test]
async fn platform_store_passes_the_suite_and_reads_what_keyring_wrote() {
    if !keychain_available() {
        return;
    }
    let service = random_service();
    conformance(platform_store(&service)).await;
    // Entries are filed alike: each store reads what the other wrote.
    let ours = Keychain::new(platform_store(&service), Duration::from_secs(10));
    let keyring = Keychain::new(
        Arc::new(KeychainStore::new(service.clone())),
        Duration::from_secs(10),
    );
    keyring.set("from-keyring", b"k").await.unwrap();
    assert_eq!(
        ours.get("from-keyring").await.unwrap().as_deref(),
        Some(&b"k"[..])
    );
    ours.set("from-ours", b"o").await.unwrap();
    assert_eq!(
        keyring.get("from-ours").await.unwrap().as_deref(),
        Some(&b"o"[..])
    );
    // Overwriting keeps one item (a search finds exactly one value).
    ours.set("from-keyring", b"k2").await.unwrap();
    assert_eq!(
        keyring.get("from-keyring").await.unwrap().as_deref(),
        Some(&b"k2"[..])
    );
    let out = Command::new("secret-tool")
        .args(["lookup", "service", &service, "username", "from-ours"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"LK10o", "another process reads it");
    for k in ["from-keyring", "from-ours"] {
        ours.delete(k).await.unwrap();
        assert_eq!(keyring.get(k).await.unwrap(), None);
    }
}

#[tokio::test]
async fn os_keychain_round_trips_across_processes() {
    if !keychain_available() {
        return;
    }
    let service = random_service();
    let store = KeychainStore::new(service.clone());
    let k = Keychain::new(Arc::new(store.clone()), Duration::from_secs(10));
    k.set("credential:demo:a", b"written-by-this-process")
        .await
        .unwrap();
    // Another process (secret-tool) sees what landed.
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            &service,
            "username",
            "credential:demo:a",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "secret-tool lookup failed");
    assert_eq!(out.stdout, b"LK10written-by-this-process");
    // And we read what another process wrote.
    let mut child = Command::new("secret-tool")
        .args([
            "store",
            "--label=latchkey test",
            "service",
            &service,
            "username",
            "from-other",
            "target",
            "default",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"LK10from another process")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        k.get("from-other").await.unwrap().as_deref(),
        Some(&b"from another process"[..])
    );
    k.delete("credential:demo:a").await.unwrap();
    k.delete("from-other").await.unwrap();
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            &service,
            "username",
            "credential:demo:a",
        ])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "deleted for other processes too");
}

#[test]
fn no_secret_service_is_a_clear_state() {
    // A process whose session bus has no Secret Service provider.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::child_reports_storage_state",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LATCHKEY_STORE_CHILD", "1")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("STATE=Unavailable").count(),
        2,
        "both stores: {text}"
    );
}

#[test]
fn locked_keyring_is_a_clear_state() {
    if !keychain_available() {
        return;
    }
    // Lock the login collection in a separate, private session so the other
    // tests keep an unlocked keyring.
    let script = r#"
        set -e
        export XDG_DATA_HOME="$(mktemp -d)"
        eval "$(printf %s pw | gnome-keyring-daemon --unlock --components=secrets)"
        LATCHKEY_STORE_CHILD=probe "$0" --exact store::child_writes_probe --nocapture --test-threads=1 >/dev/null
        gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
          --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null
        LATCHKEY_STORE_CHILD=1 "$0" --exact store::child_reports_storage_state --nocapture --test-threads=1
    "#;
    let out = Command::new("dbus-run-session")
        .args([
            "--",
            "env",
            "-u",
            "DISPLAY",
            "sh",
            "-c",
            script,
            &std::env::current_exe().unwrap().to_string_lossy(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("STATE=Locked").count(),
        2,
        "both stores: {text}"
    );
}

/// Helper run as a child process by the two tests above.
#[test]
fn child_reports_storage_state() {
    if std::env::var("LATCHKEY_STORE_CHILD").as_deref() != Ok("1") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stores: [Arc<dyn SecretStore>; 2] = [
        Arc::new(KeychainStore::new("dev.latchkey.test.child")),
        platform_store("dev.latchkey.test.child"),
    ];
    for store in stores {
        let k = Keychain::new(store, Duration::from_secs(5));
        let state = match rt.block_on(k.probe()) {
            Ok(()) => "Secure".to_owned(),
            Err(StoreError { kind, .. }) => format!("{kind:?}"),
        };
        println!("STATE={state}");
    }
}

/// Helper: makes sure the login collection exists before it is locked.
#[test]
fn child_writes_probe() {
    if std::env::var("LATCHKEY_STORE_CHILD").as_deref() != Ok("probe") {
        return;
    }
    let _ = KeychainStore::new("dev.latchkey.test.child").set("probe", b"x");
}

#[tokio::test]
async fn a_hung_store_times_out_and_the_caller_moves_on() {
    let mem = Arc::new(MemoryStore::new());
    mem.hang_next(Op::Get, Duration::from_secs(3));
    let k = Keychain::new(mem.clone(), Duration::from_millis(300));
    let t = Instant::now();
    let e = k.get("x").await.unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Timeout);
    assert!(
        t.elapsed() < Duration::from_millis(1300),
        "returned within timeout + 1 s: {:?}",
        t.elapsed()
    );
    mem.fail_next(Op::Set, StoreError::new(StoreErrorKind::Locked, "locked"));
    assert_eq!(
        k.set("x", b"1").await.unwrap_err().kind,
        StoreErrorKind::Locked
    );
    k.set("x", b"1").await.unwrap();
}

/// A locked keyring at start: the accounts are not lost, storage says it is
/// locked, and once the keyring is unlocked from outside the accounts load
/// without a restart.
#[test]
fn accounts_load_once_the_keyring_is_unlocked_from_outside() {
    if !keychain_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("latchkey-unlock-{}", random_service()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
        set -e
        export XDG_DATA_HOME="$(mktemp -d)"
        eval "$(printf %s pw | gnome-keyring-daemon --unlock --components=secrets)"
        LATCHKEY_STORE_CHILD=unlock-save "$0" --exact store::child_unlock_scenario --nocapture --test-threads=1
        gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
          --method org.freedesktop.Secret.Service.Lock "['/org/freedesktop/secrets/collection/login']" >/dev/null
        LATCHKEY_STORE_CHILD=unlock-load "$0" --exact store::child_unlock_scenario --nocapture --test-threads=1
    "#;
    let out = Command::new("dbus-run-session")
        .args([
            "--",
            "env",
            "-u",
            "DISPLAY",
            "sh",
            "-c",
            script,
            &std::env::current_exe().unwrap().to_string_lossy(),
        ])
        .env("LATCHKEY_UNLOCK_DIR", &dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SAVED accounts=1"), "{text}");
    assert!(text.contains("LOCKED accounts=0"), "{text}");
    assert!(text.contains("UNLOCKED accounts=1"), "{text}");
}

/// gnome-keyring's scripting interface: unlocks a collection with its
/// password, on this process's own D-Bus connection (not Latchkey's).
fn unlock_login_collection_from_outside(password: &str) {
    use dbus::arg::Variant;
    let conn = dbus::blocking::Connection::new_session().unwrap();
    let service = conn.with_proxy(
        "org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        Duration::from_secs(5),
    );
    let (_, session): (Variant<String>, dbus::Path) = service
        .method_call(
            "org.freedesktop.Secret.Service",
            "OpenSession",
            ("plain", Variant(String::new())),
        )
        .unwrap();
    let secret = (
        session,
        Vec::<u8>::new(),
        password.as_bytes().to_vec(),
        "text/plain",
    );
    let () = service
        .method_call(
            "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface",
            "UnlockWithMasterPassword",
            (
                dbus::Path::from("/org/freedesktop/secrets/collection/login"),
                secret,
            ),
        )
        .unwrap();
}

#[test]
fn child_unlock_scenario() {
    let stage = std::env::var("LATCHKEY_STORE_CHILD").unwrap_or_default();
    if !stage.starts_with("unlock-") {
        return;
    }
    let dir = std::path::PathBuf::from(std::env::var("LATCHKEY_UNLOCK_DIR").unwrap());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The same local Clerk (its state persisted) in both stages.
        let emu = clerk_emulator::Emulator::start(clerk_emulator::EmulatorConfig {
            data_dir: Some(dir.join("emu")),
            key_material: Some(crate::common::keys()),
            rate_limits: false,
            ..clerk_emulator::EmulatorConfig::default()
        })
        .await
        .unwrap();
        let instance = latchkey_core::Instance::local_demo(
            emu.frontend_api_url(),
            emu.instance_id(),
            emu.publishable_key(),
        )
        .unwrap();
        let env = crate::common::Env { emu, instance };
        let cfg = latchkey_core::engine::EngineConfig::new(
            dir.join("data"),
            Keychain::new(
                platform_store("dev.latchkey.test.unlock"),
                Duration::from_secs(5),
            ),
        );
        let engine = latchkey_core::engine::Engine::open(cfg).await.unwrap();
        engine.add_instance(env.instance.clone()).await.ok();
        if stage == "unlock-save" {
            crate::engine::sign_in(&engine, &env, "ada@example.com").await;
            println!("SAVED accounts={}", engine.accounts().await.len());
            return;
        }
        let mut events = engine.subscribe();
        let _ = engine.reload(None).await;
        // Locked: the saved accounts are waiting, not gone.
        assert!(engine.saved_accounts_unread());
        assert_eq!(
            engine.cached_accounts().len(),
            1,
            "kept in the display cache"
        );
        while let Ok(e) = events.try_recv() {
            assert!(
                !matches!(e, latchkey_core::engine::Event::SessionRevoked { .. }),
                "a locked keyring announced a sign-out: {e:?}"
            );
        }
        let locked = matches!(
            engine.storage_state(),
            latchkey_core::engine::StorageState::Unavailable { locked: true, .. }
        );
        assert!(locked, "{:?}", engine.storage_state());
        println!("LOCKED accounts={}", engine.accounts().await.len());
        unlock_login_collection_from_outside("pw");
        // The background loop notices within a few seconds.
        let deadline = Instant::now() + Duration::from_secs(20);
        while engine.accounts().await.is_empty() {
            assert!(Instant::now() < deadline, "not loaded after the unlock");
            let wait = engine.tick().await;
            tokio::time::sleep(wait.min(Duration::from_millis(500))).await;
        }
        assert!(!engine.saved_accounts_unread());
        while let Ok(e) = events.try_recv() {
            assert!(
                !matches!(e, latchkey_core::engine::Event::SessionRevoked { .. }),
                "unlocking announced a sign-out: {e:?}"
            );
        }
        println!("UNLOCKED accounts={}", engine.accounts().await.len());
    });
}

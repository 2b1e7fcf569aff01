//! `--data-dir`: state survives restarts; one process per data dir;
//! loopback-only binding.

use std::net::SocketAddr;

use clerk_emulator::{Emulator, EmulatorConfig, Local, StartError};

use crate::common::*;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "clerk-emulator-test-{tag}-{}-{}",
        std::process::id(),
        clerk_emulator_rand()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn clerk_emulator_rand() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[tokio::test]
async fn state_survives_a_restart_and_the_credential_keeps_working() {
    let dir = temp_dir("persist");
    let cfg = || EmulatorConfig {
        data_dir: Some(dir.clone()),
        key_material: Some(shared_keys()),
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg()).await.unwrap();
    let (instance, port) = (emu.instance_id().to_owned(), emu.addr().port());
    let mut c = Native::new(&emu);
    let sid = c.sign_in_ticket("ada@example.com").await;
    let cred = c.credential.clone().unwrap();
    let state = std::fs::read_to_string(dir.join(clerk_emulator::STATE_FILE)).unwrap();
    assert!(state.contains(&sid));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(clerk_emulator::STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "state file (it holds keys) is private");
    }
    emu.shutdown().await;

    let emu = Emulator::start(cfg()).await.unwrap();
    assert_eq!(emu.instance_id(), instance, "stable instance id");
    assert_eq!(emu.addr().port(), port, "the last port is reused when free");
    let mut c = Native::new(&emu);
    c.credential = Some(cred);
    let r = c.get("/v1/client").await;
    assert_eq!(r.json["response"]["sessions"][0]["id"], sid.as_str());
    let r = c
        .post(&format!("/v1/client/sessions/{sid}/tokens"), &[])
        .await;
    assert_eq!(r.status, 200, "keys persisted: {}", r.text);
    emu.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_second_starter_attaches_to_the_running_one() {
    let dir = temp_dir("lock");
    let cfg = || EmulatorConfig {
        data_dir: Some(dir.clone()),
        key_material: Some(shared_keys()),
        ..EmulatorConfig::default()
    };
    let first = Emulator::start(cfg()).await.unwrap();
    match Emulator::start(cfg()).await {
        Err(StartError::Locked {
            running: Some(info),
            ..
        }) => {
            assert_eq!(info.frontend_api_url, first.frontend_api_url());
            assert_eq!(info.pid, Some(std::process::id()));
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("two emulators on one data dir"),
    }
    match Emulator::start_or_attach(cfg()).await.unwrap() {
        Local::Attached(info) => assert_eq!(info.instance_id, first.instance_id()),
        Local::Started(_) => panic!("should attach"),
    }
    assert_eq!(
        clerk_emulator::read_lock(&dir).unwrap().frontend_api_url,
        first.frontend_api_url()
    );
    first.shutdown().await;
    // Released: now it starts.
    assert!(matches!(
        Emulator::start_or_attach(cfg()).await.unwrap(),
        Local::Started(_)
    ));
    std::fs::remove_dir_all(&dir).ok();
}

/// Starts an emulator on `dir` whose state file holds `state`: the error it
/// must refuse with.
async fn start_on_state(dir: &std::path::Path, state: &[u8]) -> clerk_emulator::StartError {
    std::fs::write(dir.join(clerk_emulator::STATE_FILE), state).unwrap();
    let cfg = EmulatorConfig {
        data_dir: Some(dir.to_path_buf()),
        key_material: Some(shared_keys()),
        ..EmulatorConfig::default()
    };
    Emulator::start(cfg)
        .await
        .err()
        .expect("that state file is refused")
}

#[tokio::test]
async fn corrupt_state_is_a_clear_error() {
    let dir = temp_dir("corrupt");
    let err = start_on_state(&dir, b"{ not json").await;
    assert!(
        err.to_string().contains("not a valid emulator state file"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn state_from_a_newer_version_is_refused_and_left_as_it_is() {
    let dir = temp_dir("newer");
    let path = dir.join(clerk_emulator::STATE_FILE);
    // A later format, with fields this version does not know.
    let newer = br#"{"format": 2, "instance_id": "ins_x", "shards": []}"#;
    let err = start_on_state(&dir, newer).await;
    let msg = err.to_string();
    assert!(
        msg.contains("newer version") && msg.contains("format 2") && msg.contains("left as it is"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), newer, "never overwritten");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn binds_loopback_only_unless_asked() {
    let cfg = EmulatorConfig {
        bind: "0.0.0.0:0".parse::<SocketAddr>().unwrap(),
        key_material: Some(shared_keys()),
        ..EmulatorConfig::default()
    };
    assert!(matches!(
        Emulator::start(cfg).await,
        Err(StartError::NonLoopback(_))
    ));
    let emu = start().await;
    assert!(emu.addr().ip().is_loopback());
}

#[tokio::test]
async fn seeds_parse_and_bad_seeds_are_explained() {
    let demo = clerk_emulator::Seed::load("demo").unwrap();
    assert_eq!(demo.users.len(), 4);
    assert_eq!(demo.organizations.len(), 2);
    let err = clerk_emulator::Seed::parse("x", "[[users]]\nemail = \"nope\"\n").unwrap_err();
    assert!(err.to_string().contains("not an email address"), "{err}");
    let err = clerk_emulator::Seed::parse("x", "[[organizations]]\nname=\"a\"\nslug=\"a\"\nmembers=[{email=\"z@z.z\", role=\"org:admin\"}]\n").unwrap_err();
    assert!(err.to_string().contains("unknown user"), "{err}");
    assert!(clerk_emulator::Seed::parse("x", "bogus = 1").is_err());
    assert!(clerk_emulator::Seed::load("/nonexistent/seed.toml").is_err());
}

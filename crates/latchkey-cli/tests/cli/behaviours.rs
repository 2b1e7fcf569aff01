//! Real Clerk behaviours from the command line: a pending session gets no
//! token, a step-up either fails with its own code (no terminal,
//! `--no-input`) or verifies in the browser and retries, `sign-in` on a
//! real instance goes through the desktop app, and `doctor`.

use super::*;

/// The phone session the demo seed gives Ada on another device.
async fn other_device(r: &Rig) -> String {
    let devices = r.json(&["devices", "--json"]);
    devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["this_device"] == false)
        .and_then(|d| d["session_id"].as_str())
        .unwrap()
        .to_owned()
}

/// Runs `latchkey ARGS` under a pseudo-terminal (`script`), as a person
/// at a terminal would.
fn in_terminal(r: &Rig, args: &[&str]) -> std::process::Child {
    let line = std::iter::once(env!("CARGO_BIN_EXE_latchkey"))
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("LATCHKEY_DATA_DIR", &r.dir)
        .env("LATCHKEY_KEYCHAIN_SERVICE", &r.service)
        .env_remove("LATCHKEY_ACCOUNT")
        .env("BROWSER", r.dir.join("browser.sh"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pending_session_gets_no_token_and_says_why() {
    if !keychain_ok() {
        return;
    }
    let r = rig_with(|c| c.session_tasks = vec!["choose-organization".parse().unwrap()]).await;
    let o = r.sign_in("ada@example.com").await;
    assert!(o.status.success(), "{}", stderr(&o));
    let s = r.json(&["status", "--json"]);
    assert_eq!(s["accounts"][0]["status"], "pending", "{s}");
    assert_eq!(
        s["accounts"][0]["tasks"],
        serde_json::json!(["choose-organization"])
    );
    let o = r.run(&["token"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(err.contains("not finished signing in"), "{err}");
    assert!(err.contains("choose an organization"), "{err}");
    assert!(
        err.contains("hint: finish signing in in the Latchkey app"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_up_without_a_terminal_fails_with_its_own_code() {
    if !keychain_ok() {
        return;
    }
    let r = rig_with(|c| c.reverification_minutes = Some(10)).await;
    assert!(r.sign_in("ada@example.com").await.status.success());
    let phone = other_device(&r).await;
    r.emu.advance_clock(Duration::from_secs(11 * 60));
    for args in [
        vec!["revoke", phone.as_str(), "--no-input"],
        vec!["revoke", phone.as_str()],
        vec!["sign-out", "--all-devices"],
    ] {
        let o = r.run(&args);
        assert_eq!(o.status.code(), Some(7), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("wants you to verify it is you"), "{err}");
        assert!(err.contains("hint:"), "{err}");
    }
    assert_eq!(r.emu.session_status(&phone).as_deref(), Some("active"));
    let o = r.run(&["sign-in", "--no-input"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_up_at_a_terminal_verifies_in_the_browser_and_revokes() {
    if !keychain_ok() {
        return;
    }
    // One minute, two passed: the engine trusts Clerk's clock only within
    // ten minutes of its own, so the emulator's clock stays near.
    let r = rig_with(|c| c.reverification_minutes = Some(1)).await;
    assert!(r.sign_in("ada@example.com").await.status.success());
    let before = r.json(&["status", "--json"])["active"]["session_id"].clone();
    let phone = other_device(&r).await;
    r.emu.advance_clock(Duration::from_secs(2 * 60 + 5));
    r.install_browser();
    let child = in_terminal(&r, &["revoke", &phone]);
    r.play_browser("ada@example.com").await;
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("verify it is you first"), "{out}");
    assert!(out.contains(&format!("Revoked {phone}")), "{out}");
    assert_eq!(r.emu.session_status(&phone).as_deref(), Some("revoked"));
    // The account's session here was replaced by the verified one.
    let s = r.json(&["status", "--json"]);
    assert_ne!(s["active"]["session_id"], before);
    assert_eq!(s["accounts"].as_array().unwrap().len(), 1);
    let t = r.run(&["token"]);
    assert!(t.status.success(), "{}", stderr(&t));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_through_the_app_waits_for_the_new_account() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    r.install_browser();
    // A stand-in for `latchkey-app --sign-in <instance>`: records its
    // arguments and signs in the way the app would, in the background.
    let app = r.dir.join("app.sh");
    let args_file = r.dir.join("app-args.txt");
    std::fs::write(
        &app,
        format!(
            "#!/bin/sh\nprintf '%s ' \"$@\" > {}\n{} sign-in --loopback --instance \"$2\" --timeout 30 >/dev/null 2>&1 &\n",
            args_file.display(),
            env!("CARGO_BIN_EXE_latchkey")
        ),
    )
    .unwrap();
    Command::new("chmod")
        .args(["+x", &app.to_string_lossy()])
        .status()
        .unwrap();
    let child = r
        .cmd(&["sign-in", "--via-app", "--timeout", "60"])
        .env("LATCHKEY_APP", &app)
        .env("DISPLAY", ":99")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    r.play_browser("grace@example.com").await;
    let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Signed in as Grace Hopper"),
        "{}",
        stdout(&o)
    );
    let asked = std::fs::read_to_string(&args_file).unwrap();
    let inst = r.json(&["status", "--json"])["instances"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(asked.trim(), format!("--sign-in {inst}"));

    // Without a display there is no app to ask: a clear error, at once.
    let o = r
        .cmd(&["sign-in", "--via-app"])
        .env("LATCHKEY_APP", &app)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("no display"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--loopback"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_reports_the_instance_and_this_machine() {
    if !keychain_ok() {
        return;
    }
    let r = rig_with(|c| {
        c.single_session_mode = Some(true);
        c.reverification_minutes = Some(10);
        c.mfa_users = vec!["ada@example.com".into()];
    })
    .await;
    let out = r.run(&["doctor", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}{}", stdout(&out), stderr(&out)));
    let get = |name: &str| -> Value {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check: {v}"))
    };
    for name in ["reachable", "API version", "native API", "keychain"] {
        assert_eq!(get(name)["status"], "ok", "{name}: {v}");
    }
    assert!(
        get("sessions")["detail"]
            .as_str()
            .unwrap()
            .starts_with("single-session")
    );
    let methods = get("sign-in methods")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("email address"), "{methods}");
    assert!(methods.contains("Google"), "{methods}");
    assert!(
        methods.contains("second factors: authenticator app"),
        "{methods}"
    );
    assert_eq!(get("reverification")["status"], "info");
    assert!(["ok", "problem"].contains(&get("link scheme")["status"].as_str().unwrap()));
    assert!(
        v["verified_only_against_the_emulator"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    // The text form says the same, with what to do for each problem.
    let text = stdout(&r.run(&["doctor"]));
    assert!(text.contains("ok      reachable"), "{text}");
    assert!(
        text.contains("Verified only against the local Clerk emulator"),
        "{text}"
    );

    // An instance that cannot be reached, checked before it is added.
    // (127.0.0.1: nothing listens on its port 443 here.)
    let pk = format!("pk_test_{}", url_b64("127.0.0.1$"));
    let o = r.run(&["doctor", "--json", "--instance", &pk]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reach = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reachable")
        .unwrap()
        .clone();
    assert_eq!(reach["status"], "problem", "{v}");
    assert!(reach["fix"].as_str().unwrap().contains("publishable key"));

    // With a proxy set (nothing listens there): the local instance is still
    // reached directly, a Clerk instance is sent to the proxy, and the
    // proxy's password is never printed.
    let proxied = |args: &[&str]| {
        r.cmd(args)
            .env("HTTPS_PROXY", "http://ada:pr0xy-secret@127.0.0.1:9")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .unwrap()
    };
    let o = proxied(&["doctor", "--instance", "local"]);
    let text = stdout(&o);
    assert!(text.contains("ok      reachable"), "{text}{}", stderr(&o));
    assert!(
        text.contains("proxy [")
            && text.contains("requests go directly (loopback is never proxied)"),
        "{text}"
    );
    let clerk = format!("pk_test_{}", url_b64("clerk.example.test$"));
    let o = proxied(&["doctor", "--instance", &clerk]);
    let text = stdout(&o);
    assert!(
        text.contains("requests go through the proxy http://***@127.0.0.1:9"),
        "{text}"
    );
    assert!(text.contains("problem reachable"), "{text}");
    assert!(!text.contains("pr0xy-secret") && !stderr(&o).contains("pr0xy-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_says_what_to_do_when_the_native_api_is_off() {
    if !keychain_ok() {
        return;
    }
    let r = rig_with(|c| c.native_api_enabled = false).await;
    let o = r.run(&["doctor", "--instance", "local"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("problem native API"), "{text}");
    assert!(text.contains("Native applications"), "{text}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_data_dir_is_the_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    // Made wide on purpose: Latchkey narrows it.
    std::fs::set_permissions(&r.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(r.sign_in("ada@example.com").await.status.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&r.dir), 0o700, "the data dir");
    let demo = r.dir.join("local-demo");
    assert_eq!(mode(&demo), 0o700, "the demo instance's dir");
    for f in [
        r.dir.join("cache.json"),
        demo.join("state.json"),
        demo.join("emulator.lock"),
    ] {
        assert!(f.exists(), "{} was written", f.display());
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn verify_help_says_to_pass_tokens_on_stdin() {
    let o = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["verify", "--help"])
        .output()
        .unwrap();
    let help = stdout(&o);
    assert!(help.contains("stdin"), "{help}");
    assert!(help.contains("process list"), "{help}");
    assert!(help.contains("shell history"), "{help}");
}

#[test]
fn version_names_the_commit() {
    let o = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .arg("--version")
        .output()
        .unwrap();
    let v = stdout(&o);
    let (head, commit) = v
        .trim()
        .strip_prefix("latchkey ")
        .and_then(|r| r.split_once(" ("))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(head, env!("CARGO_PKG_VERSION"));
    let commit = commit.trim_end_matches(')');
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{v}"
    );
}

/// The keychain and the data dir disagree: a fresh data dir with the old
/// keychain. The old local demo instance can never answer again; it is
/// dropped with its secrets instead of showing as a dead instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_local_demo_whose_data_is_gone_is_dropped_with_its_secrets() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    assert!(r.sign_in("ada@example.com").await.status.success());
    let old = r.json(&["status", "--json"])["instances"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = |r: &Rig| {
        let o = Command::new("secret-tool")
            .args(["search", "--all", "service", &r.service])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert!(entries(&r).contains(&format!("credential:{old}")));
    // The same keychain, a new data dir (the old one deleted).
    let fresh = r.dir.join("fresh");
    let status = |args: &[&str]| {
        r.cmd(args)
            .env("LATCHKEY_DATA_DIR", &fresh)
            .output()
            .unwrap()
    };
    let o = status(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}{}", stdout(&o), stderr(&o)));
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{v}");
    assert_ne!(ids[0], old, "the new demo instance only");
    assert_eq!(v["online"], true, "{v}");
    assert!(v["accounts"].as_array().unwrap().is_empty());
    assert!(
        !entries(&r).contains(&format!("credential:{old}")),
        "its secrets are gone"
    );
    // The new data dir's demo keeps running for this test's cleanup only.
    let _ = std::fs::remove_dir_all(&fresh);
}

/// `doctor` on a session bus of its own: `setup` runs first in the same
/// shell (start a keyring, lock it, …). Returns the keychain check.
fn doctor_keychain_in_own_bus(r: &Rig, config: Option<&std::path::Path>, setup: &str) -> Value {
    let doctor = r.cmd(&["doctor", "--json"]);
    let mut c = Command::new("dbus-run-session");
    if let Some(conf) = config {
        c.arg(format!("--config-file={}", conf.display()));
    }
    c.args(["--", "sh", "-c"])
        // The setup's own output (gnome-keyring-daemon's forked child can
        // print its environment late) goes to stderr: stdout is the JSON.
        .arg(format!(
            "{{\n:\n{setup}\n}} >&2\n exec \"$0\" doctor --json"
        ))
        .arg(doctor.get_program());
    for (k, v) in doctor.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let keyring_home = r.dir.join("keyring-home");
    std::fs::create_dir_all(&keyring_home).unwrap();
    c.env("XDG_DATA_HOME", &keyring_home).env_remove("DISPLAY");
    let o = c.output().unwrap();
    // A keyring daemon the bus activates writes its environment to the
    // bus's stdout (ours): the JSON starts at the first line that opens it.
    let out = stdout(&o);
    let json = out
        .find("\n{")
        .map_or(out.as_str(), |i| &out[i + 1..])
        .trim_start();
    let v: Value =
        serde_json::from_str(json).unwrap_or_else(|_| panic!("not JSON: {out}{}", stderr(&o)));
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "keychain")
        .cloned()
        .unwrap_or_else(|| panic!("no keychain check: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_names_the_keychain_cause_and_what_to_do() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    // A session bus with no Secret Service on it (and none to activate).
    let conf = r.dir.join("bus.conf");
    std::fs::write(
        &conf,
        r#"<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>"#,
    )
    .unwrap();
    let none = doctor_keychain_in_own_bus(&r, Some(&conf), "");
    assert_eq!(none["status"], "problem", "{none}");
    assert_eq!(
        none["detail"], "unavailable: no Secret Service on the session bus",
        "{none}"
    );
    assert!(
        none["fix"].as_str().unwrap().contains("GNOME Keyring"),
        "{none}"
    );

    // A keyring that is there but locked.
    let locked = doctor_keychain_in_own_bus(
        &r,
        None,
        "eval \"$(printf %s pw | gnome-keyring-daemon --unlock --components=secrets)\"\n\
         gdbus call --session --dest org.freedesktop.secrets --object-path /org/freedesktop/secrets \
           --method org.freedesktop.Secret.Service.Lock \"['/org/freedesktop/secrets/collection/login']\" >/dev/null",
    );
    assert_eq!(locked["status"], "problem", "{locked}");
    assert_eq!(
        locked["detail"], "locked: the keyring is locked",
        "{locked}"
    );
    assert!(
        locked["fix"].as_str().unwrap().contains("Unlock"),
        "{locked}"
    );
}

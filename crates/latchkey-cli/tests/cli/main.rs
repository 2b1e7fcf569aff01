//! The real `latchkey` binary against an emulator on 127.0.0.1 and the real
//! Secret Service (run under tests/with-keyring.sh; `make test` does).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clerk_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultRule, KeyMaterial,
};
use serde_json::Value;

// Pending sessions, step-up, signing in through the app, the doctor.
mod behaviours;
// Tokens and status from the running app, over its socket.
mod via_app;

fn keys() -> KeyMaterial {
    static K: OnceLock<KeyMaterial> = OnceLock::new();
    K.get_or_init(|| KeyMaterial::generate().unwrap()).clone()
}

fn keychain_ok() -> bool {
    let ok = Command::new("secret-tool")
        .args(["search", "service", "latchkey-probe"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok()
        && std::env::var("DBUS_SESSION_BUS_ADDRESS").is_ok();
    assert!(
        ok || std::env::var("LATCHKEY_REQUIRE_KEYCHAIN").is_err(),
        "the Secret Service is required here"
    );
    if !ok {
        eprintln!("skipped: run under tests/with-keyring.sh (make test does)");
    }
    ok
}

struct Rig {
    dir: PathBuf,
    service: String,
    emu: EmulatorHandle,
}

impl Drop for Rig {
    fn drop(&mut self) {
        for k in ["index", "credential"] {
            let _ = Command::new("secret-tool")
                .args(["clear", "service", &self.service, "username", k])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn rig() -> Rig {
    rig_with(|_| {}).await
}

async fn rig_with(f: impl FnOnce(&mut EmulatorConfig)) -> Rig {
    let tag: String = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = std::env::temp_dir().join(format!("latchkey-cli-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = EmulatorConfig {
        data_dir: Some(dir.join("local-demo")),
        key_material: Some(keys()),
        rate_limits: false,
        ..EmulatorConfig::default()
    };
    f(&mut config);
    let emu = Emulator::start(config).await.unwrap();
    Rig {
        dir,
        service: format!("dev.latchkey.test.cli.{tag}"),
        emu,
    }
}

impl Rig {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        c.args(args)
            .env("LATCHKEY_DATA_DIR", &self.dir)
            .env("LATCHKEY_KEYCHAIN_SERVICE", &self.service)
            .env_remove("LATCHKEY_ACCOUNT")
            .env("BROWSER", self.dir.join("browser.sh"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let o = self.cmd(args).output().unwrap();
        scan_output(args, &o);
        o
    }

    /// Runs `latchkey sign-in`, plays the browser on the emulator's page,
    /// returns the command's output.
    async fn sign_in(&self, email: &str) -> Output {
        self.sign_in_with_env(email, ("LATCHKEY_UNUSED", "")).await
    }

    async fn sign_in_with_env(&self, email: &str, extra: (&str, &str)) -> Output {
        self.install_browser();
        let child = self
            .cmd(&["sign-in", "--timeout", "30"])
            .env(extra.0, extra.1)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A crash point kills the command while it handles the callback:
        // the browser's request then gets no page.
        let crashing = extra.0 == "LATCHKEY_FAILPOINT";
        self.browser_to_callback(email, !crashing).await;
        let o = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        scan_output(&["sign-in"], &o);
        o
    }

    /// `$BROWSER` for the commands: a script that writes the URL it is
    /// given to `url.txt`.
    fn install_browser(&self) {
        let url_file = self.dir.join("url.txt");
        let _ = std::fs::remove_file(&url_file);
        std::fs::write(
            self.dir.join("browser.sh"),
            format!("#!/bin/sh\nprintf %s \"$1\" > {}\n", url_file.display()),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .args(["+x", &self.dir.join("browser.sh").to_string_lossy()])
            .status()
            .unwrap();
    }

    /// The browser: waits for a command to open the hosted page, picks
    /// `email` there and follows the redirect to the command's loopback
    /// listener.
    async fn play_browser(&self, email: &str) {
        self.browser_to_callback(email, true).await;
    }

    /// [`play_browser`](Self::play_browser); `answered`: the command is
    /// expected to answer the callback with its page.
    async fn browser_to_callback(&self, email: &str, answered: bool) {
        let url_file = self.dir.join("url.txt");
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = loop {
            if let Ok(u) = std::fs::read_to_string(&url_file)
                && !u.is_empty()
            {
                break u;
            }
            assert!(Instant::now() < deadline, "the browser was never opened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let _ = std::fs::remove_file(&url_file);
        let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
        let http = latchkey_core::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let uid = self.emu.user_id(email).unwrap();
        let res = http
            .post(format!("{}/hosted/sign-in", self.emu.frontend_api_url()))
            .form(&[("attempt", attempt.as_str()), ("user_id", uid.as_str())])
            .send()
            .await
            .unwrap();
        let callback = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            callback.starts_with("http://127.0.0.1:"),
            "loopback redirect: {callback}"
        );
        let page = reqwest::get(&callback).await;
        if answered {
            let page = page.unwrap().text().await.unwrap();
            assert!(page.contains("You can close this tab"));
        }
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "{args:?}: not JSON: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// The canary scan of every command these tests run: nothing but
/// `latchkey token` prints a token-shaped string (a session token, a client
/// credential, a handoff ticket: a JWT's three base64url parts) on stdout
/// or stderr — not `status`, not `verify` (whose argument is a token), not
/// an error.
fn scan_output(args: &[&str], o: &Output) {
    if args.first() == Some(&"token") {
        return;
    }
    for (name, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        if let Some(t) = token_shaped(&text) {
            panic!(
                "`latchkey {}` printed a token-shaped string on {name} ({} chars)",
                args.join(" "),
                t.len()
            );
        }
    }
}

fn token_shaped(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            w.starts_with("eyJ") && parts.len() == 3 && parts.iter().all(|p| p.len() >= 8)
        })
}

#[test]
fn the_output_scan_finds_a_token() {
    assert!(token_shaped("x eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl y").is_some());
    assert!(token_shaped("sess_abc user_2x eyJ.only.short").is_none());
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn claims(jwt: &str) -> Value {
    latchkey_core::decode_unverified(jwt.trim()).expect("a JWT")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_command_set() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    // Not signed in yet.
    let o = r.run(&["status"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("not signed in"));
    let s = r.json(&["status", "--json"]);
    assert_eq!(s["signed_in"], false);
    assert_eq!(s["instances"][0]["kind"], "local_demo");
    assert_eq!(
        s["instances"][0]["frontend_api"],
        r.emu.frontend_api_url(),
        "attached to the running emulator"
    );
    assert_eq!(s["storage"]["state"], "secure");
    let o = r.run(&["token"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("hint: run `latchkey sign-in`"));

    // Sign in twice.
    let o = r.sign_in("ada@example.com").await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Signed in as Ada Lovelace <ada@example.com>"));
    let o = r.sign_in("grace@example.com").await;
    assert!(o.status.success(), "{}", stderr(&o));

    // status --json: a stable shape.
    let s = r.json(&["status", "--json"]);
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "accounts",
            "active",
            "instances",
            "online",
            "signed_in",
            "storage"
        ]
    );
    let acct_keys: Vec<&str> = s["accounts"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        acct_keys,
        vec![
            "active",
            "active_organization_id",
            "email",
            "instance_id",
            "name",
            "session_id",
            "status",
            "tasks",
            "user_id"
        ]
    );
    assert_eq!(s["signed_in"], true);
    let grace_sid = s["active"]["session_id"].as_str().unwrap().to_owned();
    let ada = s["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "ada@example.com")
        .unwrap()
        .clone();
    let ada_sid = ada["session_id"].as_str().unwrap().to_owned();
    assert_eq!(r.run(&["status"]).status.code(), Some(0));

    // token: one line, nothing else; per-call selection does not switch.
    let o = r.run(&["token"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
    assert_eq!(claims(&stdout(&o))["sid"], grace_sid.as_str());
    let o = r.run(&["token", "--account", "ada@example.com"]);
    assert_eq!(claims(&stdout(&o))["sid"], ada_sid.as_str());
    let o = r
        .cmd(&["token"])
        .env("LATCHKEY_ACCOUNT", &ada_sid)
        .output()
        .unwrap();
    assert_eq!(claims(&stdout(&o))["sid"], ada_sid.as_str());
    assert_eq!(
        r.json(&["status", "--json"])["active"]["session_id"],
        grace_sid.as_str(),
        "the active account did not change"
    );
    let o = r.run(&[
        "token",
        "--account",
        "ada@example.com",
        "--org",
        "analytical-engines",
    ]);
    assert_eq!(
        claims(&stdout(&o))["o"]["slg"],
        "analytical-engines",
        "{}",
        stderr(&o)
    );
    let o = r.run(&["token", "--account", "ada@example.com", "--org", "personal"]);
    assert!(claims(&stdout(&o)).get("o").is_none());
    let o = r.run(&["token", "--template", "api"]);
    assert_eq!(claims(&stdout(&o))["name"], "Grace Hopper");
    let o = r.run(&["token", "--account", "nobody@example.com"]);
    assert_eq!(o.status.code(), Some(1));

    // sessions and devices.
    let sessions = r.json(&["sessions", "--json"]);
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let devices = r.json(&["devices", "--json", "--account", "ada@example.com"]);
    let list = devices.as_array().unwrap();
    assert_eq!(list[0]["this_device"], true);
    assert_eq!(list[0]["browser_name"], "Latchkey");
    let keys: Vec<&str> = list[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec![
            "actor",
            "browser_name",
            "browser_version",
            "city",
            "country",
            "device_type",
            "ip_address",
            "is_mobile",
            "last_active_at",
            "session_id",
            "status",
            "this_device"
        ]
    );
    let remote = list.iter().find(|d| d["city"] == "Berlin").unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = r.run(&["revoke", &remote, "--account", "ada@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.emu.session_status(&remote).as_deref(), Some("revoked"));

    // switch.
    let o = r.run(&["switch", "ada@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        r.json(&["status", "--json"])["active"]["session_id"],
        ada_sid.as_str()
    );

    // verify: the token verifies; tampering does not.
    let tok = stdout(&r.run(&["token"]));
    let o = r.run(&["verify", tok.trim()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["sid"], ada_sid.as_str());
    let mut stdin_run = r
        .cmd(&["verify", "-", "--max-age", "5m"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    stdin_run
        .stdin
        .take()
        .unwrap()
        .write_all(tok.as_bytes())
        .unwrap();
    assert!(stdin_run.wait_with_output().unwrap().status.success());
    let mut bad = tok.trim().to_owned();
    bad.pop();
    bad.push(if tok.trim().ends_with('A') { 'B' } else { 'A' });
    let o = r.run(&["verify", &bad]);
    assert_eq!(o.status.code(), Some(6));
    assert!(stderr(&o).contains("invalid token"));
    // The JWT attack list through the binary: 0 accepted.
    let payload = tok.trim().split('.').nth(1).unwrap().to_owned();
    let sig = tok.trim().split('.').nth(2).unwrap().to_owned();
    let forged: Vec<String> = [
        "none", "None", "NONE", "nOnE", "HS256", "RS384", "RS512", "PS256", "ES256",
    ]
    .iter()
    .map(|alg| {
        format!(
            "{}.{payload}.{sig}",
            url_b64(&format!("{{\"alg\":\"{alg}\",\"kid\":\"x\"}}"))
        )
    })
    .chain([
        format!("{}.{payload}.", tok.trim().split('.').next().unwrap()),
        format!("{}.x", tok.trim()),
        "a.b.c".to_owned(),
        "%%%".to_owned(),
        "x".repeat(9000),
    ])
    .collect();
    for f in &forged {
        let o = r.run(&["verify", f]);
        assert_eq!(
            o.status.code(),
            Some(6),
            "accepted or wrong code for {f:.40}: {}",
            stderr(&o)
        );
    }
    let o = r.run(&["verify", tok.trim(), "--max-factor-age", "0m"]);
    assert!(o.status.success() || o.status.code() == Some(6));
    assert_eq!(r.run(&["verify", ""]).status.code(), Some(2));
    assert_eq!(
        r.run(&["verify", tok.trim(), "--max-age", "5x"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(r.run(&["token", "--bogus"]).status.code(), Some(2));

    // Exit codes for failures.
    let tokens = format!("/v1/client/sessions/{ada_sid}/tokens");
    r.emu
        .add_fault(FaultRule::new(&tokens, FaultAction::Drop).times(1));
    assert_eq!(r.run(&["token"]).status.code(), Some(3), "network");
    r.emu.add_fault(
        FaultRule::new(
            &tokens,
            FaultAction::Status {
                status: 429,
                code: "too_many_requests".into(),
                retry_after: Some("3".into()),
            },
        )
        .times(1),
    );
    assert_eq!(r.run(&["token"]).status.code(), Some(4), "rate limited");

    // Sign-out variants.
    let o = r.run(&["sign-out", "--all-devices"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("other device"));
    let o = r.run(&["sign-out", "--account", "grace@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.emu.session_status(&grace_sid).as_deref(), Some("removed"));
    let o = r.run(&["sign-out", "--everywhere"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.run(&["status"]).status.code(), Some(1));
    let o = r.sign_in("alan@example.com").await;
    assert!(o.status.success());
    let o = r.run(&["sign-out", "--all-accounts"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.run(&["status"]).status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_session_has_its_own_exit_code() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    let o = r.sign_in("katherine@example.com").await;
    assert!(o.status.success(), "{}", stderr(&o));
    let st = r.json(&["status", "--json"]);
    let sid = st["active"]["session_id"]
        .as_str()
        .unwrap_or_else(|| {
            let ks = Command::new("secret-tool")
                .args(["search", "--all", "service", &r.service])
                .output()
                .unwrap();
            let log: Vec<String> = r
                .emu
                .requests()
                .iter()
                .map(|x| {
                    format!(
                        "{} {} {} auth={}",
                        x.method,
                        x.path,
                        x.status,
                        x.header("authorization")
                            .map(|a| &a[a.len().saturating_sub(8)..])
                            .unwrap_or("-")
                    )
                })
                .collect();
            panic!(
                "no active account: {st}\nkeychain: {}{}\nlog: {log:#?}",
                String::from_utf8_lossy(&ks.stdout),
                String::from_utf8_lossy(&ks.stderr)
            )
        })
        .to_owned();
    let http = latchkey_core::http_client_builder().build().unwrap();
    http.post(format!(
        "{}/v1/sessions/{sid}/revoke",
        r.emu.backend_api_url()
    ))
    .bearer_auth(r.emu.secret_key())
    .send()
    .await
    .unwrap();
    let o = r.run(&["token", "--account", &sid]);
    assert!(
        matches!(o.status.code(), Some(1) | Some(5)),
        "{:?} {}",
        o.status.code(),
        stderr(&o)
    );
    assert_eq!(r.run(&["status"]).status.code(), Some(1));
}

/// Two OS processes share one credential; a rotation by one between the
/// other's calls does not lose the rotated credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_do_not_lose_a_rotated_credential() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    assert!(r.sign_in("ada@example.com").await.status.success());
    // Process B reads the keychain, then its first request is held while
    // process A signs in again (rotating the credential and saving it).
    r.emu.add_fault(
        FaultRule::new("/v1/client", FaultAction::Delay { ms: 4000 })
            .method("GET")
            .times(1),
    );
    let b = r
        .cmd(&["token", "--account", "ada@example.com"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let a = r.sign_in("grace@example.com").await;
    assert!(a.status.success(), "{}", stderr(&a));
    let b = tokio::task::spawn_blocking(move || b.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        b.status.success(),
        "process B failed after the rotation: {}",
        stderr(&b)
    );
    assert_eq!(
        claims(&stdout(&b))["sub"],
        r.emu.user_id("ada@example.com").unwrap().as_str()
    );
    // And both accounts are still there for a third process.
    assert_eq!(r.json(&["sessions", "--json"]).as_array().unwrap().len(), 2);
}

#[test]
fn latchkey_emulator_runs_the_local_clerk() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["emulator", "--port", "0", "--seed", "empty", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["frontend_api_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
}

fn url_b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Crash matrix: the CLI is SIGKILLed at each named step of a sign-in and of
/// the credential rotation it causes (feature `failpoints`, `make test`
/// builds with it). A restart reads a consistent state: the index parses,
/// every listed account is complete, and no sign-in attempt is left over.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_at_each_step_leaves_a_consistent_state() {
    if !keychain_ok() {
        return;
    }
    for point in [
        "sign-in:after-redeem",
        "sign-in:before-save",
        "sign-in:after-save",
        "rotation:after-new-slot",
        "rotation:after-index",
        "rotation:after-delete-old",
    ] {
        let r = rig().await;
        assert!(r.sign_in("ada@example.com").await.status.success());
        let killed = r
            .sign_in_with_env("grace@example.com", ("LATCHKEY_FAILPOINT", point))
            .await;
        assert_eq!(
            killed.status.code(),
            None,
            "{point}: the process was killed (signal), not exited: {}",
            stderr(&killed)
        );
        let st = r.run(&["status", "--json"]);
        assert!(
            matches!(st.status.code(), Some(0) | Some(1)),
            "{point}: status after the crash: {}",
            stderr(&st)
        );
        let s: Value = serde_json::from_slice(&st.stdout).expect("status still reads");
        for a in s["accounts"].as_array().unwrap() {
            assert!(
                a["session_id"].as_str().unwrap().starts_with("sess_") && a["email"].is_string(),
                "{point}: complete account {a}"
            );
            assert_eq!(a["status"], "active");
        }
        let n = s["accounts"].as_array().unwrap().len();
        // Before the rotated credential is saved, the server has already
        // rotated it: that client's accounts are lost, never half-written.
        let expected: &[usize] = match point {
            "sign-in:after-redeem" | "sign-in:before-save" => &[0, 2],
            _ => &[2],
        };
        assert!(expected.contains(&n), "{point}: {n} accounts");
        // No attempt survives a process: a late callback is refused.
        let late = r.run(&["status"]);
        assert!(!stdout(&late).contains("sign-in in progress"));
        eprintln!("killed at {point}: {n} accounts after restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_single_session_instance_holds_several_accounts() {
    if !keychain_ok() {
        return;
    }
    let r = rig_with(|c| c.single_session_mode = Some(true)).await;
    for email in ["ada@example.com", "grace@example.com"] {
        let o = r.sign_in(email).await;
        assert!(o.status.success(), "{email}: {}", stderr(&o));
    }
    let s = r.json(&["status", "--json"]);
    assert_eq!(s["accounts"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["accounts"][1]["email"], "grace@example.com");
    assert_eq!(s["accounts"][1]["active"], true);

    // Switch, and a token for each from its own client.
    let o = r.run(&["switch", "ada@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ada_sid = s["accounts"][0]["session_id"].as_str().unwrap().to_owned();
    let grace_sid = s["accounts"][1]["session_id"].as_str().unwrap().to_owned();
    let t = r.run(&["token"]);
    assert_eq!(claims(&stdout(&t))["sid"], ada_sid.as_str());
    let t = r.run(&["token", "--account", "grace@example.com"]);
    assert_eq!(claims(&stdout(&t))["sid"], grace_sid.as_str());

    // Revoke another device of Grace's, through her client.
    let uid = r.emu.user_id("grace@example.com").unwrap();
    let other = latchkey_core::http_client_builder()
        .build()
        .unwrap()
        .post(format!("{}/v1/sessions", r.emu.backend_api_url()))
        .bearer_auth(r.emu.secret_key())
        .json(&serde_json::json!({"user_id": uid}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = r.run(&["revoke", &other, "--account", "grace@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.emu.session_status(&other).as_deref(), Some("revoked"));

    // Sign one out; the other stays, in a new process too.
    let o = r.run(&["sign-out", "--account", "grace@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = r.json(&["status", "--json"]);
    let emails: Vec<&str> = s["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["email"].as_str())
        .collect();
    assert_eq!(emails, vec!["ada@example.com"]);
    assert_eq!(r.emu.session_status(&grace_sid).as_deref(), Some("removed"));
    assert!(r.run(&["token"]).status.success());
}

//! The IPC commands on Tauri's mock runtime, against a real emulator on
//! loopback: every command works through IPC with the app's real
//! capabilities; no response and no event carries a secret (the engine's
//! real credential and tokens are the canaries); the admin-only command
//! refuses a member; a window the capabilities do not list gets nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clerk_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};
use latchkey_app::clipboard::MemoryClipboard;
use latchkey_app::confirm::{Confirmation, Confirmer};
use latchkey_app::events::Notifier;
use latchkey_app::settings::Settings;
use latchkey_app::state::Latchkey;
use latchkey_app::{Wiring, build_app, invoke_handler};
use latchkey_core::engine::OrgSel;
use latchkey_core::store::{MemoryStore, Op, StoreError, StoreErrorKind};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow};

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Notifier for Recorder {
    fn notify(&self, title: &str, body: &str) {
        self.0.lock().unwrap().push(format!("{title}: {body}"));
    }
}

/// The native dialog's stand-in: answers from a queue (yes when empty) and
/// records every question.
#[derive(Default)]
struct Answers {
    next: Mutex<std::collections::VecDeque<bool>>,
    asked: Mutex<Vec<Confirmation>>,
}

impl Confirmer for Answers {
    fn confirm(
        &self,
        c: Confirmation,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
        self.asked.lock().unwrap().push(c);
        let yes = self.next.lock().unwrap().pop_front().unwrap_or(true);
        Box::pin(async move { yes })
    }
}

impl Answers {
    fn then_no(&self) {
        self.next.lock().unwrap().push_back(false);
    }

    fn last_title(&self) -> String {
        self.asked
            .lock()
            .unwrap()
            .last()
            .map(|c| c.title.clone())
            .unwrap_or_default()
    }

    fn count(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

/// The desktop's side of links: records what it was asked to open, and
/// delivers it to the app the way a registered handler does (once
/// `register`ed, or from the start when `works`).
#[derive(Default)]
struct FakeLinks {
    app: std::sync::OnceLock<tauri::AppHandle<MockRuntime>>,
    opened: Mutex<Vec<String>>,
    works: std::sync::atomic::AtomicBool,
    registered: std::sync::atomic::AtomicBool,
    unregistered: std::sync::atomic::AtomicBool,
}

impl latchkey_app::links::Desktop for FakeLinks {
    fn open(&self, url: &str) -> Result<(), String> {
        use std::sync::atomic::Ordering::SeqCst;
        self.opened.lock().unwrap().push(url.to_owned());
        if self.works.load(SeqCst) || self.registered.load(SeqCst) {
            latchkey_app::handle_urls(self.app.get().unwrap(), vec![url.to_owned()]);
        }
        Ok(())
    }
    fn default_handler(&self) -> Option<String> {
        self.registered
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| "latchkey-app-handler.desktop".to_owned())
    }
    fn entry(&self, _: &str) -> Option<String> {
        None
    }
    fn register(&self) -> Result<(), String> {
        self.registered
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
    fn unregister(&self) -> Result<(), String> {
        self.unregistered
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

struct Rig {
    app: App<MockRuntime>,
    main: WebviewWindow<MockRuntime>,
    emu: EmulatorHandle,
    store: Arc<MemoryStore>,
    opened: Arc<Mutex<Vec<String>>>,
    clipboard: Arc<MemoryClipboard>,
    events: Arc<Mutex<Vec<String>>>,
    notes: Arc<Recorder>,
    answers: Arc<Answers>,
    links: Arc<FakeLinks>,
    /// Exit codes Latchkey asked for (the mock runtime cannot exit).
    exits: Arc<Mutex<Vec<i32>>>,
    dir: std::path::PathBuf,
    rt: tokio::runtime::Runtime,
}

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "latchkey-app-test-{}",
        latchkey_core::new_state().replace(['-', '_'], "x")
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rig(clear_after: Duration) -> Rig {
    rig_with(clear_after, |_| {})
}

/// A rig whose emulator is configured by `tweak` (reverification, session
/// tasks, second factors).
fn rig_with(clear_after: Duration, tweak: impl FnOnce(&mut EmulatorConfig)) -> Rig {
    let dir = temp_dir();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The emulator of the app's data dir: the app attaches to it.
    let emu = rt
        .block_on(Emulator::start({
            let mut cfg = EmulatorConfig {
                data_dir: Some(dir.join("local-demo")),
                seed: Seed::demo(),
                ..EmulatorConfig::default()
            };
            tweak(&mut cfg);
            cfg
        }))
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    let opened = Arc::new(Mutex::new(Vec::new()));
    let rec = opened.clone();
    let clipboard = Arc::new(MemoryClipboard::default());
    let notes = Arc::new(Recorder::default());
    let answers = Arc::new(Answers::default());
    let links = Arc::new(FakeLinks::default());
    let exits = Arc::new(Mutex::new(Vec::new()));
    let exits_rec = exits.clone();
    let wiring = Wiring {
        settings: Settings {
            data_dir: dir.clone(),
            keychain_service: "test".into(),
            publishable_key: None,
            templates: vec![],
        },
        opener: Some(Arc::new(move |u: &str| {
            rec.lock().unwrap().push(u.to_owned());
            true
        })),
        clipboard: Some(clipboard.clone()),
        notifier: Some(notes.clone()),
        clipboard_clear_after: clear_after,
        store: Some(store.clone()),
        desktop: false,
        requests: vec![],
        confirmer: Some(answers.clone()),
        links: Some(links.clone()),
        link_wait: Duration::from_millis(1500),
        unload_hidden_after: latchkey_app::window::UNLOAD_AFTER,
        exit: Some(Arc::new(move |code| exits_rec.lock().unwrap().push(code))),
    };
    let mut app = build_app(mock_builder().invoke_handler(invoke_handler()), wiring)
        .build(tauri::generate_context!("tauri.conf.json", test = true))
        .unwrap();
    // Runs setup (state, the main window from the config) once.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    let _ = links.app.set(app.handle().clone());
    // The window's side of the event channel (what `subscribe` receives
    // from the page), recording every event.
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    app.state::<Latchkey>()
        .subscribe(tauri::ipc::Channel::new(move |body| {
            if let tauri::ipc::InvokeResponseBody::Json(j) = body {
                ev.lock().unwrap().push(j);
            }
            Ok(())
        }));
    let main = app.get_webview_window("main").unwrap_or_else(|| {
        tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap()
    });
    let r = Rig {
        app,
        main,
        emu,
        store,
        opened,
        clipboard,
        events,
        notes,
        answers,
        links,
        exits,
        dir,
        rt,
    };
    // Wait for the engine.
    r.rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), r.app.state::<Latchkey>().ctx())
            .await
            .expect("engine started in time")
            .expect("engine started");
    });
    r
}

fn request(cmd: &str, args: Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

impl Rig {
    /// The browser's part of hosted sign-in: submits the emulator's sign-in
    /// form for `attempt` and returns where it redirects (the callback).
    async fn hosted_sign_in(&self, attempt: &str, identifier: &str, password: &str) -> String {
        let res = latchkey_core::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/hosted/sign-in", self.emu.frontend_api_url()))
            .form(&[
                ("attempt", attempt),
                ("identifier", identifier),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        res.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Calls a command the way the webview does; Ok(json) or Err(json).
    fn call_in(
        &self,
        w: &WebviewWindow<MockRuntime>,
        cmd: &str,
        args: Value,
    ) -> Result<Value, Value> {
        get_ipc_response(w, request(cmd, args)).map(|b| b.deserialize::<Value>().unwrap())
    }

    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.call_in(&self.main, cmd, args)
    }

    /// The browser on the hosted page: signs in and delivers the callback
    /// the way a deep link does.
    fn sign_in(&self, identifier: &str, password: &str) -> Value {
        let v = self
            .call(
                "sign_in_options",
                json!({ "instanceId": self.instance_id() }),
            )
            .unwrap();
        assert_eq!(v["instance"]["kind"], "local_demo");
        let started = self
            .call("start_sign_in", json!({ "instanceId": self.instance_id() }))
            .unwrap();
        assert_eq!(started["browserOpened"], true);
        let url = self.opened.lock().unwrap().last().cloned().unwrap();
        assert_eq!(url, started["url"].as_str().unwrap());
        let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
        let callback = self
            .rt
            .block_on(self.hosted_sign_in(&attempt, identifier, password));
        let lk = self.app.state::<Latchkey>();
        let outcome = self.rt.block_on(lk.handle_deep_link(&callback)).unwrap();
        let latchkey_core::Outcome::SignedIn { session, .. } = outcome else {
            panic!("not signed in: {outcome:?}")
        };
        let snap = self.call("snapshot", json!({})).unwrap();
        let acct = snap["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"]["sessionId"] == session.as_str())
            .cloned()
            .unwrap();
        acct["key"].clone()
    }

    fn instance_id(&self) -> String {
        let snap = self.call("snapshot", json!({})).unwrap();
        assert_eq!(snap["instances"][0]["kind"], "local_demo");
        snap["instances"][0]["id"].as_str().unwrap().to_owned()
    }
}

#[test]
fn every_command_through_ipc_leaks_no_secret() {
    let r = rig(Duration::from_millis(300));
    let ada = r.sign_in("ada@example.com", "analytical-engine");
    let grace = r.sign_in("grace@example.com", "cobol-1959");
    let responses: std::cell::RefCell<Vec<String>> = Default::default();
    let ok = |cmd: &str, args: Value| -> Value {
        let v = r.call(cmd, args).unwrap_or_else(|e| panic!("{cmd}: {e}"));
        responses.borrow_mut().push(v.to_string());
        v
    };

    let snap = ok("snapshot", json!({}));
    assert_eq!(snap["ready"], true);
    assert_eq!(snap["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(snap["active"], grace);
    ok("switch_account", json!({ "key": ada }));
    assert_eq!(ok("snapshot", json!({}))["active"], ada);

    let d = ok("session_details", json!({ "key": ada }));
    assert_eq!(d["sessionId"], ada["sessionId"]);
    assert_eq!(d["claims"]["sid"], ada["sessionId"]);
    assert_eq!(d["templates"], json!(["api", "supabase"]));
    let t = ok(
        "template_claims",
        json!({ "key": ada, "template": "supabase" }),
    );
    assert!(t.get("sid").is_none(), "template claims: {t}");
    let orgs = ok("organizations", json!({ "key": ada }));
    assert_eq!(orgs["memberships"].as_array().unwrap().len(), 2);
    let org_id = orgs["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["slug"] == "analytical-engines")
        .unwrap()["id"]
        .clone();
    ok("switch_org", json!({ "key": ada, "orgId": org_id }));
    let orgs = ok("organizations", json!({ "key": ada }));
    assert_eq!(orgs["active"]["isAdmin"], true);
    assert_eq!(
        ok("org_members", json!({ "key": ada }))
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let devices = ok("devices", json!({ "key": ada }));
    assert_eq!(devices[0]["thisDevice"], true);
    let other = devices[1]["sessionId"].clone();
    assert_eq!(
        ok("revoke_session", json!({ "key": ada, "sessionId": other }))["outcome"],
        "revoked"
    );
    let rest = ok("sign_out_other_devices", json!({ "key": ada }));
    assert!(
        rest.as_array()
            .unwrap()
            .iter()
            .all(|x| x["outcome"] == "revoked")
    );
    ok("refresh", json!({}));

    // Copy token: Rust asks first (the page's word is not enough); a "no"
    // copies nothing. Copied in Rust, never returned; cleared afterwards.
    let asked = r.answers.count();
    r.answers.then_no();
    let e = r.call("copy_token", json!({ "key": ada })).unwrap_err();
    assert_eq!(e["kind"], "cancelled");
    assert_eq!(
        r.answers.last_title(),
        "Copy a live session token of Ada Lovelace?"
    );
    assert_eq!(*r.clipboard.0.lock().unwrap(), None, "nothing copied");
    let clears = ok("copy_token", json!({ "key": ada }));
    assert_eq!(r.answers.count(), asked + 2, "asked every time");
    assert!(clears.as_i64().unwrap() > 0);
    let copied = r.clipboard.0.lock().unwrap().clone().unwrap();
    assert!(copied.starts_with("eyJ"), "a JWT is on the clipboard");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        *r.clipboard.0.lock().unwrap(),
        None,
        "cleared after the delay"
    );
    // ...but what the user copied since is left alone.
    ok("copy_token", json!({ "key": ada }));
    *r.clipboard.0.lock().unwrap() = Some("the user's own text".into());
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        r.clipboard.0.lock().unwrap().as_deref(),
        Some("the user's own text")
    );

    // Sign-in link: no secret in it, copied by Rust.
    let s = ok(
        "start_sign_in",
        json!({ "instanceId": r.instance_id(), "strategy": "oauth_google" }),
    );
    assert!(
        s["url"]
            .as_str()
            .unwrap()
            .contains("/oauth/google/authorize")
    );
    ok("copy_sign_in_link", json!({}));
    ok("reopen_sign_in", json!({}));
    assert_eq!(ok("cancel_sign_in", json!({})), true);
    assert_eq!(
        r.call("copy_sign_in_link", json!({})).unwrap_err()["kind"],
        "sign_in"
    );
    // Handoff commands with nothing pending.
    assert_eq!(ok("decline_handoff", json!({})), false);
    assert!(r.call("confirm_handoff", json!({})).is_err());
    let e = r
        .call(
            "add_instance",
            json!({ "publishableKey": "pk_test_bm90LWEta2V5" }),
        )
        .unwrap_err();
    assert_eq!(e["kind"], "config");

    // The canaries: the client credential in secure storage and every
    // account's current session token.
    let mut canaries: Vec<String> = Vec::new();
    for k in r.store.keys() {
        let raw = String::from_utf8_lossy(&r.store.raw(&k).unwrap()).into_owned();
        for w in raw.split(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c))) {
            if w.len() >= 32 && w.matches('.').count() == 2 {
                canaries.push(w.to_owned());
            }
        }
    }
    assert!(!canaries.is_empty(), "found the stored credential");
    let lk = r.app.state::<Latchkey>();
    let engine = lk.engine_now().unwrap();
    for key in [&ada, &grace] {
        let acct = latchkey_core::engine::AccountRef {
            instance_id: key["instanceId"].as_str().unwrap().into(),
            session_id: key["sessionId"].as_str().unwrap().into(),
        };
        if let Ok(t) = r.rt.block_on(engine.get_token(&acct, None, OrgSel::Active)) {
            canaries.push(t.expose().to_owned());
        }
    }
    canaries.push(copied);

    // Everything that crossed IPC or went out as an event.
    std::thread::sleep(Duration::from_millis(300));
    let events = r.events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.contains("token_refreshed") || e.contains("changed"))
    );
    let haystack = [
        responses.borrow().join("\n"),
        events.join("\n"),
        r.notes.0.lock().unwrap().join("\n"),
    ]
    .join("\n");
    for c in &canaries {
        assert!(
            !haystack.contains(c.as_str()),
            "a secret crossed into the webview"
        );
        // Nor its payload without the signature.
        let head_payload = c.rsplit_once('.').map(|x| x.0).unwrap_or_default();
        assert!(!haystack.contains(head_payload));
    }
    eprintln!(
        "canary scan: {} canaries, {} responses, {} events: 0 hits",
        canaries.len(),
        responses.borrow().len(),
        events.len()
    );

    // Sign out: this account, then everything here.
    ok("sign_out", json!({ "key": grace }));
    let here = ok("sign_out_all_here", json!({}));
    assert_eq!(here["signedOut"], 1);
    assert!(
        ok("snapshot", json!({}))["accounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // An intentional sign-out is not news.
    assert!(
        r.notes
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|n| !n.contains("was signed out"))
    );
}

#[test]
fn members_are_refused_to_a_non_admin() {
    let r = rig(Duration::from_secs(60));
    let alan = r.sign_in("alan@example.com", "enigma-1936");
    let orgs = r.call("organizations", json!({ "key": alan })).unwrap();
    let org = orgs["memberships"][0]["id"].clone();
    r.call("switch_org", json!({ "key": alan, "orgId": org }))
        .unwrap();
    let orgs = r.call("organizations", json!({ "key": alan })).unwrap();
    assert_eq!(orgs["active"]["role"], "org:member");
    assert_eq!(orgs["active"]["isAdmin"], false);
    let e = r.call("org_members", json!({ "key": alan })).unwrap_err();
    assert_eq!(e["kind"], "forbidden", "{e}");
    assert!(e["message"].as_str().unwrap().contains("admin"));
}

#[test]
fn a_window_the_capabilities_do_not_list_gets_no_command() {
    let r = rig(Duration::from_secs(60));
    let other = tauri::WebviewWindowBuilder::new(&r.app, "other", Default::default())
        .build()
        .unwrap();
    let names: Vec<&str> = latchkey_app::bindings::signatures()
        .iter()
        .map(|s| s.0)
        .collect();
    for cmd in &names {
        let e = r.call_in(&other, cmd, json!({})).unwrap_err();
        assert!(e.to_string().contains("not allowed"), "{cmd}: {e}");
    }
    // The main window may.
    assert!(r.call("snapshot", json!({})).is_ok());
    eprintln!(
        "IPC: {} commands from an unlisted window: 0 allowed",
        names.len()
    );
}

#[test]
fn bad_arguments_get_clear_errors() {
    let r = rig(Duration::from_secs(60));
    let e = r
        .call("switch_account", json!({ "key": { "instanceId": "x" } }))
        .unwrap_err();
    assert!(e.to_string().contains("sessionId"), "{e}");
    let e = r
        .call(
            "start_sign_in",
            json!({ "instanceId": r.instance_id(), "strategy": "javascript:alert(1)" }),
        )
        .unwrap_err();
    assert_eq!(e["kind"], "bad_input");
    let e = r
        .call("start_sign_in", json!({ "instanceId": "ins_nope" }))
        .unwrap_err();
    assert_eq!(e["kind"], "bad_input");
    let e = r
        .call("add_instance", json!({ "publishableKey": "" }))
        .unwrap_err();
    assert_eq!(e["kind"], "bad_input");
    // A keychain that refuses the write: the window learns it as a storage
    // kind (its own entry in the UI's table), not as a configuration error.
    for (fault, kind, key) in [
        (
            StoreErrorKind::Locked,
            "storage_locked",
            "pk_live_Y2xlcmsub25lLmV4YW1wbGUuY29tJA",
        ),
        (
            StoreErrorKind::Unavailable,
            "storage_unavailable",
            "pk_live_Y2xlcmsudHdvLmV4YW1wbGUuY29tJA",
        ),
        (
            StoreErrorKind::Timeout,
            "storage_failed",
            "pk_live_Y2xlcmsudGhyZWUuZXhhbXBsZS5jb20k",
        ),
    ] {
        r.store
            .fail_next(Op::Set, StoreError::new(fault, "refused by the test"));
        let e = r
            .call("add_instance", json!({ "publishableKey": key }))
            .unwrap_err();
        assert_eq!(e["kind"], kind, "{e}");
    }
    // A hostile deep link changes nothing and says why.
    let lk = r.app.state::<Latchkey>();
    let err =
        r.rt.block_on(lk.handle_deep_link("dev.latchkey.desktop://callback?state=a&state=b"))
            .unwrap_err();
    assert_eq!(err.kind, latchkey_app::error::ErrorKind::Callback);
    assert!(
        r.call("snapshot", json!({})).unwrap()["accounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_loopback_fallback_signs_in_and_tells_the_window() {
    let r = rig(Duration::from_secs(60));
    let started = r
        .call(
            "start_sign_in",
            json!({ "instanceId": r.instance_id(), "loopback": true }),
        )
        .unwrap();
    let url = started["url"].as_str().unwrap().to_owned();
    let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
    // The browser signs in on the hosted page and is sent to the app's
    // one-time loopback listener.
    let redirect = r.rt.block_on(async {
        let loc = r
            .hosted_sign_in(&attempt, "grace@example.com", "cobol-1959")
            .await;
        assert!(loc.starts_with("http://127.0.0.1:"), "{loc}");
        let page = latchkey_core::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&loc)
            .send()
            .await
            .unwrap();
        assert!(page.status().is_success());
        loc
    });
    assert!(redirect.contains("/callback?"));
    // The window hears who signed in; the account is active.
    let finished = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(50));
        r.events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.contains("sign_in_finished"))
            .cloned()
    });
    let finished: Value = serde_json::from_str(&finished.expect("sign_in_finished")).unwrap();
    assert_eq!(finished["account"]["name"], "Grace Hopper");
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["active"], finished["account"]["key"]);
    assert!(snap["signIn"].is_null(), "the waiting state ended");
}

impl Rig {
    /// The first event of `kind` the window heard (waits up to 5 s).
    fn event(&self, kind: &str) -> Value {
        let tag = format!("\"type\":\"{kind}\"");
        let found = (0..100).find_map(|_| {
            let hit = self
                .events
                .lock()
                .unwrap()
                .iter()
                .find(|e| e.contains(&tag))
                .cloned();
            if hit.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            hit
        });
        serde_json::from_str(&found.unwrap_or_else(|| panic!("no {kind} event"))).unwrap()
    }

    /// Posts to the hosted page (no redirects followed): status and the
    /// redirect target or the page.
    fn page(&self, form: &[(&str, &str)]) -> (u16, String) {
        self.rt.block_on(async {
            let res = latchkey_core::http_client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(format!("{}/hosted/sign-in", self.emu.frontend_api_url()))
                .form(form)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let loc = res
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            let body = res.text().await.unwrap();
            (status, loc.unwrap_or(body))
        })
    }

    /// Delivers a deep link the way the OS does.
    fn deliver(&self, url: &str) {
        latchkey_app::handle_urls(self.app.handle(), vec![url.to_owned()]);
    }
}

#[test]
fn step_up_in_the_browser_then_the_revoke_is_retried() {
    let r = rig_with(Duration::from_secs(60), |c| {
        c.reverification_minutes = Some(10)
    });
    let ada = r.sign_in("ada@example.com", "analytical-engine");
    let devices = r.call("devices", json!({ "key": ada })).unwrap();
    let phone = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["thisDevice"] == false)
        .unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    r.emu.advance_clock(Duration::from_secs(11 * 60));
    let refused = r
        .call("revoke_session", json!({ "key": ada, "sessionId": phone }))
        .unwrap();
    assert_eq!(refused["outcome"], "reverification_required");

    let started = r
        .call(
            "verify_again",
            json!({ "key": ada, "then": { "kind": "revoke", "sessionId": phone } }),
        )
        .unwrap();
    assert_eq!(started["reverify"]["kind"], "step_up");
    assert_eq!(started["reverify"]["email"], "ada@example.com");
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(
        snap["signIn"]["reverify"]["kind"], "step_up",
        "the window shows whom to verify"
    );
    let url = started["url"].as_str().unwrap();
    let attempt = url.split("attempt=").nth(1).unwrap();
    let callback =
        r.rt.block_on(r.hosted_sign_in(attempt, "ada@example.com", "analytical-engine"));
    r.deliver(&callback);
    let done = r.event("reverified");
    assert_eq!(done["kind"], "step_up");
    assert_eq!(done["account"]["name"], "Ada Lovelace");
    assert_eq!(done["retried"]["revoked"][0]["sessionId"], phone.as_str());
    assert_eq!(done["retried"]["revoked"][0]["outcome"], "revoked");
    assert_eq!(r.emu.session_status(&phone).as_deref(), Some("revoked"));
    let snap = r.call("snapshot", json!({})).unwrap();
    assert!(snap["signIn"].is_null(), "the waiting state ended");
    assert_eq!(snap["active"], done["account"]["key"]);
    assert_ne!(snap["active"], ada, "the new session replaced the old one");
    assert_eq!(snap["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.emu
            .session_status(ada["sessionId"].as_str().unwrap())
            .as_deref(),
        Some("removed")
    );
}

#[test]
fn a_pending_session_gets_no_token_until_an_organization_is_chosen() {
    let r = rig_with(Duration::from_secs(60), |c| {
        c.session_tasks = vec!["choose-organization".parse().unwrap()];
    });
    let ada = r.sign_in("ada@example.com", "analytical-engine");
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["accounts"][0]["status"], "pending");
    assert_eq!(snap["accounts"][0]["tasks"], json!(["choose_organization"]));
    let e = r.call("copy_token", json!({ "key": ada })).unwrap_err();
    assert_eq!(e["kind"], "session_pending");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("choose an organization"),
        "{e}"
    );
    let orgs = r.call("organizations", json!({ "key": ada })).unwrap();
    assert!(orgs["active"].is_null());
    let org = orgs["memberships"][0]["id"].clone();
    r.call("switch_org", json!({ "key": ada, "orgId": org }))
        .unwrap();
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["accounts"][0]["status"], "active");
    assert_eq!(snap["accounts"][0]["tasks"], json!([]));
    assert_eq!(snap["accounts"][0]["activeOrgId"], org);
    r.call("copy_token", json!({ "key": ada })).unwrap();
}

#[test]
fn a_task_done_in_the_browser_replaces_the_pending_session() {
    let r = rig_with(Duration::from_secs(60), |c| {
        c.session_tasks = vec!["grace@example.com=setup-mfa".parse().unwrap()];
    });
    r.sign_in("ada@example.com", "analytical-engine");
    // Grace arrives by a handoff link: the ticket does not do the task.
    let ticket = r.ticket("grace@example.com");
    let lk = r.app.state::<Latchkey>();
    r.rt.block_on(lk.handle_deep_link(&format!("dev.latchkey.desktop://handoff?ticket={ticket}")))
        .unwrap();
    let added = r.call("confirm_handoff", json!({})).unwrap();
    let grace = added["account"]["key"].clone();
    assert_eq!(added["account"]["tasks"], json!(["setup_mfa"]));
    // Nothing to finish here for an account that is not pending.
    let snap = r.call("snapshot", json!({})).unwrap();
    let ada = snap["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Ada Lovelace")
        .unwrap()["key"]
        .clone();
    assert_eq!(
        r.call("finish_in_browser", json!({ "key": ada }))
            .unwrap_err()["kind"],
        "bad_input"
    );

    let started = r
        .call("finish_in_browser", json!({ "key": grace }))
        .unwrap();
    assert_eq!(started["reverify"]["kind"], "finish_sign_in");
    let attempt = started["url"]
        .as_str()
        .unwrap()
        .split("attempt=")
        .nth(1)
        .unwrap()
        .to_owned();
    let uid = r.emu.user_id("grace@example.com").unwrap();
    let (status, page) = r.page(&[("attempt", &attempt), ("user_id", &uid)]);
    assert_eq!(status, 200);
    assert!(page.contains("Set up two-step verification"));
    let (status, callback) = r.page(&[
        ("attempt", &attempt),
        ("step", "setup-mfa"),
        ("code", "424242"),
    ]);
    assert_eq!(status, 303);
    r.deliver(&callback);
    let done = r.event("reverified");
    assert_eq!(done["kind"], "finish_sign_in");
    assert_eq!(done["account"]["status"], "active");
    assert!(done["retried"].is_null());
    let snap = r.call("snapshot", json!({})).unwrap();
    let names: Vec<&str> = snap["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        !snap["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == grace)
    );
}

#[test]
fn an_oauth_sign_in_stopped_by_a_second_factor_continues_in_the_browser() {
    let r = rig_with(Duration::from_secs(60), |c| {
        c.mfa_users = vec!["ada@example.com".into()]
    });
    let started = r
        .call(
            "start_sign_in",
            json!({ "instanceId": r.instance_id(), "strategy": "oauth_google" }),
        )
        .unwrap();
    let url = started["url"].as_str().unwrap().to_owned();
    let callback = r.rt.block_on(async {
        let path = url.strip_prefix(r.emu.frontend_api_url()).unwrap();
        let (route, q) = path.split_once('?').unwrap();
        let sign_in = q.split("sign_in_id=").nth(1).unwrap();
        let res = latchkey_core::http_client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}{route}", r.emu.frontend_api_url()))
            .form(&[
                ("sign_in_id", sign_in),
                ("user_id", &r.emu.user_id("ada@example.com").unwrap()),
            ])
            .send()
            .await
            .unwrap();
        res.headers()["location"].to_str().unwrap().to_owned()
    });
    r.deliver(&callback);
    let cont = r.event("sign_in_continues");
    let notice = cont["signIn"]["notice"].as_str().unwrap();
    assert!(
        notice.contains("Google sign-in asks for your second factor"),
        "{notice}"
    );
    assert!(notice.contains("ada@example.com"), "{notice}");
    assert!(
        cont["signIn"]["strategy"].is_null(),
        "hosted auth took over"
    );
    let hosted = r.opened.lock().unwrap().last().cloned().unwrap();
    assert!(hosted.contains("/hosted/sign-in?attempt="), "{hosted}");
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["signIn"]["notice"], cont["signIn"]["notice"]);
    assert!(snap["accounts"].as_array().unwrap().is_empty());
}

#[test]
fn command_line_requests_start_a_sign_in_or_a_verification() {
    use latchkey_app::settings::Request;
    let r = rig(Duration::from_secs(60));
    // `latchkey sign-in` on an instance the CLI sends to the app.
    latchkey_app::handle_requests(
        r.app.handle(),
        vec![Request::SignIn {
            instance: "local".into(),
        }],
    );
    r.event("changed");
    let url = (0..100)
        .find_map(|_| {
            let u = r.opened.lock().unwrap().last().cloned();
            if u.is_none() {
                std::thread::sleep(Duration::from_millis(50));
            }
            u
        })
        .expect("the browser was opened");
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(
        snap["signIn"]["url"],
        url.as_str(),
        "the window shows the wait"
    );
    let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
    let callback =
        r.rt.block_on(r.hosted_sign_in(&attempt, "grace@example.com", "cobol-1959"));
    r.deliver(&callback);
    let finished = r.event("sign_in_finished");
    assert_eq!(finished["account"]["name"], "Grace Hopper");

    // A step-up the CLI asks for: the window waits to verify that account.
    let grace = finished["account"]["key"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    r.events.lock().unwrap().clear();
    latchkey_app::handle_requests(
        r.app.handle(),
        vec![Request::Verify {
            session_id: grace.clone(),
        }],
    );
    r.event("changed");
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["signIn"]["reverify"]["kind"], "step_up");
    assert_eq!(
        snap["signIn"]["reverify"]["key"]["sessionId"],
        grace.as_str()
    );
    r.call("cancel_sign_in", json!({})).unwrap();

    // An instance that is not configured: the window says so.
    r.events.lock().unwrap().clear();
    latchkey_app::handle_requests(
        r.app.handle(),
        vec![Request::SignIn {
            instance: "clerk.nowhere.example".into(),
        }],
    );
    let failed = r.event("sign_in_finished");
    assert_eq!(failed["error"]["kind"], "bad_input");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );
}

impl Rig {
    /// A sign-in ticket for `email` from the emulator's Backend API.
    fn ticket(&self, email: &str) -> String {
        self.rt.block_on(async {
            let v: Value = latchkey_core::http_client_builder()
                .build()
                .unwrap()
                .post(format!("{}/v1/sign_in_tokens", self.emu.backend_api_url()))
                .bearer_auth(self.emu.secret_key())
                .json(&json!({ "user_id": self.emu.user_id(email).unwrap() }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["token"].as_str().unwrap().to_owned()
        })
    }
}

#[test]
fn a_handoff_names_its_account_and_a_second_link_waits_its_turn() {
    let r = rig(Duration::from_secs(60));
    // A fresh install: the link's account would be the active one.
    let first = format!(
        "dev.latchkey.desktop://handoff?ticket={}",
        r.ticket("grace@example.com")
    );
    r.deliver(&first);
    let pending = r.event("handoff_pending");
    let h = &pending["handoff"];
    assert_eq!(h["name"], "Grace Hopper");
    assert_eq!(h["email"], "grace@example.com");
    assert_eq!(h["instanceName"], "Latchkey Demo");
    assert_eq!(h["becomesActive"], true);
    assert_eq!(h["alreadySignedIn"], false);
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["handoff"]["name"], "Grace Hopper");
    assert!(
        snap["accounts"].as_array().unwrap().is_empty(),
        "not an account yet"
    );

    // A second link while the first waits: refused, and the window says why.
    let second = format!(
        "dev.latchkey.desktop://handoff?ticket={}",
        r.ticket("alan@example.com")
    );
    r.deliver(&second);
    let rejected = r.event("link_rejected");
    assert!(
        rejected["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answer it first"),
        "{rejected}"
    );
    assert_eq!(
        r.call("snapshot", json!({})).unwrap()["handoff"]["name"],
        "Grace Hopper"
    );

    // Cancel: nothing added, the link's session ended.
    assert_eq!(r.call("decline_handoff", json!({})).unwrap(), true);
    let snap = r.call("snapshot", json!({})).unwrap();
    assert!(snap["handoff"].is_null());
    assert!(snap["accounts"].as_array().unwrap().is_empty());
    let uid = r.emu.user_id("grace@example.com").unwrap();
    let link_session = r.emu.sessions_of(&uid).pop().unwrap();
    assert_eq!(
        r.emu.session_status(&link_session).as_deref(),
        Some("ended"),
        "the link's session was ended (its client deleted)"
    );
}

#[test]
fn rust_asks_before_each_sensitive_action_and_a_no_changes_nothing() {
    let r = rig(Duration::from_secs(60));
    let ada = r.sign_in("ada@example.com", "analytical-engine");
    let devices = r.call("devices", json!({ "key": ada })).unwrap();
    let phone = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["deviceType"] == "iPhone")
        .unwrap()["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "revoke_session",
            json!({ "key": ada, "sessionId": phone }),
            "Sign out this device?",
        ),
        (
            "sign_out_other_devices",
            json!({ "key": ada }),
            "Sign out all other devices of Ada Lovelace?",
        ),
        (
            "sign_out_all_here",
            json!({}),
            "Sign out of all accounts on this device?",
        ),
        (
            "sign_out_everywhere",
            json!({ "key": ada, "force": false }),
            "Sign out of Ada Lovelace everywhere?",
        ),
        (
            "sign_out_everywhere",
            json!({ "key": ada, "force": true }),
            "Sign Ada Lovelace out here anyway?",
        ),
        (
            "copy_token",
            json!({ "key": ada, "template": "api" }),
            "Copy a live \"api\" token of Ada Lovelace?",
        ),
    ];
    for (cmd, args, title) in cases {
        r.answers.then_no();
        let e = r.call(cmd, args).unwrap_err();
        assert_eq!(e["kind"], "cancelled", "{cmd}");
        assert_eq!(r.answers.last_title(), title, "{cmd}");
    }
    // The device question names the device from Clerk's list.
    let asked = r.answers.asked.lock().unwrap()[0].clone();
    assert!(
        asked.message.contains("Safari 18.1 on iPhone in Berlin"),
        "{}",
        asked.message
    );
    assert_eq!(asked.ok, "Sign out device");
    // Nothing happened.
    assert_eq!(r.emu.session_status(&phone).as_deref(), Some("active"));
    assert_eq!(
        r.emu
            .session_status(ada["sessionId"].as_str().unwrap())
            .as_deref(),
        Some("active")
    );
    assert_eq!(*r.clipboard.0.lock().unwrap(), None);
    // The tray's Sign out asks too.
    let lk = r.app.state::<Latchkey>();
    let key: latchkey_app::view::AccountKey = serde_json::from_value(ada.clone()).unwrap();
    r.answers.then_no();
    let e = r.rt.block_on(lk.sign_out_from_tray(&key)).unwrap_err();
    assert_eq!(e.kind, latchkey_app::error::ErrorKind::Cancelled);
    assert_eq!(r.answers.last_title(), "Sign out of Ada Lovelace?");
    assert_eq!(
        r.call("snapshot", json!({})).unwrap()["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A yes goes ahead.
    let v = r
        .call("revoke_session", json!({ "key": ada, "sessionId": phone }))
        .unwrap();
    assert_eq!(v["outcome"], "revoked");
    r.rt.block_on(lk.sign_out_from_tray(&key)).unwrap();
    assert!(
        r.call("snapshot", json!({})).unwrap()["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["signedIn"] == false)
    );
}

#[test]
fn closing_the_window_keeps_latchkey_running_and_says_so_once() {
    let r = rig(Duration::from_secs(60));
    assert_eq!(
        r.call("preferences", json!({})).unwrap()["closeHides"],
        true
    );
    // What the window's close request asks (the mock runtime sends no close
    // requests; the end-to-end test closes the real window).
    let lk = r.app.state::<Latchkey>();
    assert!(lk.hide_on_close(), "hidden, not closed");
    assert!(lk.hide_on_close());
    let told: Vec<String> = r
        .notes
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|n| n.starts_with("Latchkey is still running"))
        .cloned()
        .collect();
    assert_eq!(told.len(), 1, "said once: {told:?}");
    assert!(told[0].contains("Ctrl+Q") && told[0].contains("tray"));
    // Remembered across runs, in settings.json.
    let p = r.call("set_close_hides", json!({ "on": false })).unwrap();
    assert_eq!(p["closeHides"], false);
    assert!(!lk.hide_on_close(), "closing quits now");
    assert!(!lk.prefs().get().close_hides);
}

#[test]
fn the_link_check_sees_its_link_or_says_what_is_wrong_and_repairs() {
    use std::sync::atomic::Ordering::SeqCst;
    let r = rig(Duration::from_secs(60));
    // Links work: one round, nothing wrong.
    r.links.works.store(true, SeqCst);
    let v = r.call("check_links", json!({})).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["repaired"], false, "{v}");
    let sent = r.links.opened.lock().unwrap().last().cloned().unwrap();
    assert!(
        sent.starts_with("dev.latchkey.desktop://selftest?nonce="),
        "{sent}"
    );
    // The same link again (a replay) is not used: the check is over.
    latchkey_app::handle_urls(r.app.handle(), vec![sent.clone()]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        r.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("link_rejected") && e.contains("link check")),
        "a stray link check is refused"
    );

    // Links go nowhere: the diagnosis, the repair, and the second round.
    r.links.works.store(false, SeqCst);
    let v = r.call("check_links", json!({})).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["repaired"], true, "{v}");
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("no application is set to open dev.latchkey.desktop:// links"),
        "{problems}"
    );
    assert!(problems.contains("did not reach Latchkey"), "{problems}");
    assert!(r.links.registered.load(SeqCst));
    // Every check used a fresh nonce.
    let opened = r.links.opened.lock().unwrap().clone();
    let mut nonces: Vec<&String> = opened.iter().collect();
    nonces.dedup();
    assert_eq!(nonces.len(), opened.len(), "{opened:?}");

    // A check can be stopped.
    r.links.registered.store(false, SeqCst);
    let handle = r.app.handle().clone();
    let stop = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.state::<latchkey_app::LinksState>().check.cancel()
    });
    let e = r.call("check_links", json!({})).unwrap_err();
    assert!(stop.join().unwrap());
    assert_eq!(e["kind"], "cancelled", "{e}");
}

#[test]
fn the_link_i_copied_signs_in_and_is_taken_off_the_clipboard() {
    let r = rig(Duration::from_secs(60));
    // Nothing useful on the clipboard: a clear error, nothing changes.
    *r.clipboard.0.lock().unwrap() = Some("https://example.com/not-it".into());
    let e = r.call("use_copied_link", json!({})).unwrap_err();
    assert_eq!(e["kind"], "bad_input");
    assert!(!e.to_string().contains("example.com"), "not echoed: {e}");
    assert_eq!(
        r.clipboard.0.lock().unwrap().as_deref(),
        Some("https://example.com/not-it"),
        "the user's text is left alone"
    );

    let started = r
        .call("start_sign_in", json!({ "instanceId": r.instance_id() }))
        .unwrap();
    let url = started["url"].as_str().unwrap().to_owned();
    let attempt = url.split("attempt=").nth(1).unwrap().to_owned();
    let callback =
        r.rt.block_on(r.hosted_sign_in(&attempt, "ada@example.com", "analytical-engine"));
    // The same link with another state is refused like any callback.
    let forged = callback.replace("state=", "state=x");
    *r.clipboard.0.lock().unwrap() = Some(forged);
    let e = r.call("use_copied_link", json!({})).unwrap_err();
    assert_eq!(e["kind"], "callback", "{e}");
    assert!(
        r.call("snapshot", json!({})).unwrap()["accounts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The real one, with the whitespace a copy picks up.
    *r.clipboard.0.lock().unwrap() = Some(format!("  {callback}\n"));
    r.call("use_copied_link", json!({})).unwrap();
    let snap = r.call("snapshot", json!({})).unwrap();
    assert_eq!(snap["accounts"][0]["name"], "Ada Lovelace", "{snap}");
    assert_eq!(*r.clipboard.0.lock().unwrap(), None, "single use: cleared");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        r.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("sign_in_finished")),
        "the window is told like for a deep link"
    );
}

#[test]
fn forget_everything_asks_then_leaves_no_secret_no_file_no_handler() {
    use std::sync::atomic::Ordering::SeqCst;
    let r = rig(Duration::from_secs(60));
    let ada = r.sign_in("ada@example.com", "analytical-engine");
    assert!(!r.store.keys().is_empty());
    assert!(r.dir.join("cache.json").exists());
    // "No" does nothing.
    r.answers.then_no();
    let e = r.call("forget_everything", json!({})).unwrap_err();
    assert_eq!(e["kind"], "cancelled");
    assert_eq!(r.answers.last_title(), "Forget everything on this device?");
    assert!(!r.store.keys().is_empty());
    assert!(r.dir.exists());
    assert!(!r.links.unregistered.load(SeqCst));

    let v = r.call("forget_everything", json!({})).unwrap();
    assert_eq!(v["problems"], json!([]), "{v}");
    assert_eq!(r.store.keys(), Vec::<String>::new(), "keychain empty");
    assert!(!r.dir.exists(), "data dir deleted");
    assert!(r.links.unregistered.load(SeqCst), "handler removed");
    // Clerk was told: the session is over there too.
    let session = r.rt.block_on(async {
        latchkey_core::http_client_builder()
            .build()
            .unwrap()
            .get(format!(
                "{}/v1/sessions/{}",
                r.emu.backend_api_url(),
                ada["sessionId"].as_str().unwrap()
            ))
            .bearer_auth(r.emu.secret_key())
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    assert_ne!(session["status"], "active", "{session}");
}

/// The tray's menu on the mock runtime (no tray host exists under Xvfb):
/// its handler, given the ids of the menu as built from the accounts,
/// switches, signs out only after its question is answered yes, opens the
/// window (creating it when it was unloaded) and quits, through the same
/// code as the window.
#[test]
fn the_tray_menu_switches_signs_out_after_asking_opens_and_quits() {
    use latchkey_app::tray::{TrayItem, TrayState, model};
    let r = rig(Duration::from_secs(60));
    let ada = r.sign_in("ada@example.com", "analytical-engine");
    let grace = r.sign_in("grace@example.com", "cobol-1959");
    let lk = r.app.state::<Latchkey>();
    let handle = r.app.handle().clone();
    // The menu as the tray builds it from the accounts; the id of the item
    // whose label starts with `name`.
    let menu = || {
        let items = model(&r.rt.block_on(lk.snapshot()).accounts);
        *r.app.state::<TrayState>().0.lock().unwrap() = items.clone();
        items
    };
    let id_of = |items: &[TrayItem], name: &str| {
        items
            .iter()
            .find_map(|i| match i {
                TrayItem::Account { id, label, .. } if label.starts_with(name) => Some(id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name} in {items:?}"))
    };
    let active = || {
        r.call("snapshot", json!({})).unwrap()["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["active"] == true)
            .map(|a| a["key"].clone())
    };
    let within = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "tray: {what} did not happen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(active(), Some(grace.clone()));
    // Switch: Ada's item.
    let items = menu();
    latchkey_app::tray_clicked(&handle, &id_of(&items, "Ada Lovelace"));
    within("switch to Ada", &|| active() == Some(ada.clone()));
    // Open: while the window is hidden its page is sent nothing (events
    // wait); the tray's Open shows it and the page gets what waited.
    latchkey_app::window::hide(&handle);
    let seen = r.events.lock().unwrap().len();
    r.call("switch_account", json!({ "key": grace })).unwrap();
    assert_eq!(active(), Some(grace.clone()));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(r.events.lock().unwrap().len(), seen, "held while hidden");
    latchkey_app::tray_clicked(&handle, "open");
    within("the window shown", &|| {
        r.events.lock().unwrap().len() > seen
    });
    assert!(r.app.get_webview_window("main").is_some());
    // Sign out (of the active account, Grace): asked first; a no keeps her.
    let items = menu();
    assert!(
        items
            .iter()
            .any(|i| matches!(i, TrayItem::SignOut { label } if label == "Sign out Grace Hopper"))
    );
    r.answers.then_no();
    let asked = r.answers.count();
    latchkey_app::tray_clicked(&handle, "sign_out");
    within("the sign-out question", &|| r.answers.count() == asked + 1);
    assert_eq!(r.answers.last_title(), "Sign out of Grace Hopper?");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(active(), Some(grace.clone()), "a no signs nobody out");
    // A yes signs her out; Ada takes over.
    latchkey_app::tray_clicked(&handle, "sign_out");
    within("sign out Grace", &|| active() == Some(ada.clone()));
    let snap = r.call("snapshot", json!({})).unwrap();
    let grace_now = snap["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == grace)
        .cloned();
    assert!(
        grace_now.is_none_or(|a| a["signedIn"] == false),
        "Grace is signed out"
    );
    assert_eq!(
        r.emu
            .session_status(grace["sessionId"].as_str().unwrap())
            .as_deref(),
        Some("removed"),
        "signed out at Clerk too"
    );
    // An id the menu does not have does nothing; Quit exits with 0.
    latchkey_app::tray_clicked(&handle, "account:99");
    assert!(r.exits.lock().unwrap().is_empty());
    latchkey_app::tray_clicked(&handle, "quit");
    assert_eq!(*r.exits.lock().unwrap(), vec![0]);
    // The window's Quit is the same.
    r.call_in(
        &r.app.get_webview_window("main").unwrap(),
        "quit",
        json!({}),
    )
    .unwrap();
    assert_eq!(*r.exits.lock().unwrap(), vec![0, 0]);
}

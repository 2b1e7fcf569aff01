//! `latchkey token` and `status` answered by the running app over its local
//! socket (`latchkey_host::ipc`), with the app's engine played by one
//! opened in this process on the same data dir and keychain service (the
//! app runs exactly `ipc::serve` on its engine; `src-tauri` starts it):
//! the same answers both ways, an answer even when the CLI could not read
//! the keychain itself, fallback on a stale socket and on an app that dies
//! mid-request, and a refusal for another user (a client run with
//! `setpriv` as `nobody`).

use std::os::unix::fs::PermissionsExt;

use latchkey_host::{OpenOptions, Settings, ipc};

use super::*;

/// The app's settings for this rig: its data dir and keychain service.
fn app_settings(r: &Rig) -> Settings {
    Settings {
        data_dir: r.dir.clone(),
        keychain_service: r.service.clone(),
        publishable_key: None,
        templates: vec![],
    }
}

/// A runtime dir of this rig's own, and where the app's socket goes in it.
fn runtime(r: &Rig) -> (PathBuf, ipc::Place) {
    let rt = r.dir.join("runtime");
    std::fs::create_dir_all(&rt).unwrap();
    std::fs::set_permissions(&rt, std::fs::Permissions::from_mode(0o700)).unwrap();
    let env_rt = rt.clone();
    let place = ipc::place(&app_settings(r), &move |k| {
        (k == "XDG_RUNTIME_DIR").then(|| env_rt.clone().into())
    });
    (rt, place)
}

/// A rig where Ada signed in with the CLI, and "the app": an engine opened
/// on the same data dir and keychain service, its accounts read.
async fn ada_and_the_app() -> (Rig, latchkey_host::Host) {
    let r = rig().await;
    assert_eq!(r.sign_in("ada@example.com").await.status.code(), Some(0));
    let app = latchkey_host::open(&app_settings(&r), OpenOptions::default())
        .await
        .unwrap();
    app.engine.reload(None).await.unwrap();
    (r, app)
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_running_app_answers_token_and_status_the_same_way() {
    if !keychain_ok() {
        return;
    }
    let (r, app) = ada_and_the_app().await;
    let (rt, place) = runtime(&r);
    let server = ipc::serve(app.engine.clone(), &place).await.unwrap();
    assert_eq!(mode(&place.dir), 0o700, "the socket's directory is private");
    assert_eq!(mode(&place.path), 0o600);

    let cli = |args: &[&str], direct: bool| {
        let mut c = r.cmd(args);
        c.env("XDG_RUNTIME_DIR", &rt);
        if direct {
            c.env("LATCHKEY_NO_APP", "1");
        }
        c.output().unwrap()
    };
    // The same status both ways.
    let json = |o: &Output| -> Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}{}", stdout(o), stderr(o)))
    };
    let (via, direct) = (
        cli(&["status", "--json"], false),
        cli(&["status", "--json"], true),
    );
    assert_eq!(via.status.code(), Some(0), "{}", stderr(&via));
    assert_eq!(json(&via), json(&direct));
    let text = (cli(&["status"], false), cli(&["status"], true));
    assert_eq!(stdout(&text.0), stdout(&text.1));
    // A token for the same session both ways.
    let sid = json(&via)["active"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for direct in [false, true] {
        let o = cli(&["token"], direct);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(claims(stdout(&o).trim())["sid"], sid.as_str());
    }
    // The same refusals: no such account.
    let (a, b) = (
        cli(&["token", "--account", "nobody@example.com"], false),
        cli(&["token", "--account", "nobody@example.com"], true),
    );
    assert_eq!((a.status.code(), stderr(&a)), (b.status.code(), stderr(&b)));
    assert_eq!(a.status.code(), Some(1));

    // Proof that the app answered: with no keychain the CLI could not
    // read anything itself, yet the token comes.
    let no_keychain = |direct: bool| {
        let mut c = r.cmd(&["token"]);
        c.env("XDG_RUNTIME_DIR", &rt)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
        if direct {
            c.env("LATCHKEY_NO_APP", "1");
        }
        c.output().unwrap()
    };
    let o = no_keychain(false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(claims(stdout(&o).trim())["sid"], sid.as_str());
    assert_ne!(
        no_keychain(true).status.code(),
        Some(0),
        "on its own it cannot"
    );

    // The app goes: its socket with it, and the CLI is on its own again.
    drop(server);
    assert!(!place.path.exists());
    assert_ne!(no_keychain(false).status.code(), Some(0));
    assert_eq!(cli(&["token"], false).status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_socket_or_an_app_that_dies_mid_request_falls_back() {
    if !keychain_ok() {
        return;
    }
    let r = rig().await;
    assert_eq!(r.sign_in("ada@example.com").await.status.code(), Some(0));
    let (rt, place) = runtime(&r);
    std::fs::create_dir_all(&place.dir).unwrap();
    let token = || {
        r.cmd(&["token"])
            .env("XDG_RUNTIME_DIR", &rt)
            .output()
            .unwrap()
    };

    // Stale: the file is there, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&place.path).unwrap());
    assert!(place.path.exists());
    let o = token();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // An app that reads the request and dies before answering.
    std::fs::remove_file(&place.path).unwrap();
    let listener = tokio::net::UnixListener::bind(&place.path).unwrap();
    let got = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = got.clone();
    let dying = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        while let Ok((s, _)) = listener.accept().await {
            let mut line = String::new();
            let _ = tokio::io::BufReader::new(s).read_line(&mut line).await;
            if line.contains("\"op\"") {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            // Dropped here: the connection closes with no answer.
        }
    });
    let mut c = r.cmd(&["token"]);
    c.env("XDG_RUNTIME_DIR", &rt);
    let o = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(claims(stdout(&o).trim())["sid"].is_string());
    assert!(
        got.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "it asked the app first"
    );
    dying.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_user_is_refused() {
    if !keychain_ok() {
        return;
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| stdout(&o).trim() == "0");
    if !matches!(is_root, Ok(true)) || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv to run a client as another user");
        return;
    }
    let (r, app) = ada_and_the_app().await;
    // A socket another user can reach (the real one sits in a 0700 dir:
    // asserted above), so that only the peer check stands in the way.
    let shared = r.dir.join("shared");
    let place = ipc::Place {
        dir: shared.clone(),
        path: shared.join("app.sock"),
    };
    let server = ipc::serve(app.engine.clone(), &place).await.unwrap();
    for d in [&r.dir, &shared] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&place.path, std::fs::Permissions::from_mode(0o777)).unwrap();
    // The client: a few lines of Python as `nobody`, asking for the status.
    let client = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n\
                  try:\n s.sendall(b'{\"op\":\"status\",\"v\":1}\\n')\nexcept OSError:\n pass\nprint(s.makefile().readline())";
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            client,
        ])
        .arg(&place.path)
        .output()
        .unwrap();
    let answer = stdout(&o);
    assert!(
        answer.contains("\"answer\":\"refused\""),
        "{answer}{}",
        stderr(&o)
    );
    assert!(
        !answer.contains("ada@example.com") && !answer.contains("accounts"),
        "{answer}"
    );
    assert_eq!(server.refused(), 1);
    // The same client as this user gets the status.
    let o = Command::new("/usr/bin/python3")
        .args(["-c", client])
        .arg(&place.path)
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("ada@example.com"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert_eq!(server.refused(), 1);
}

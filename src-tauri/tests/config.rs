//! The shipped configuration: a strict CSP, capabilities for the main
//! window only with no remote URLs, the deep-link scheme from docs/contracts.md.

use serde_json::Value;

fn conf() -> Value {
    serde_json::from_str(include_str!("../tauri.conf.json")).unwrap()
}

fn directives() -> Vec<(String, Vec<String>)> {
    let csp = conf()["app"]["security"]["csp"]
        .as_str()
        .unwrap()
        .to_owned();
    csp.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut parts = d.split_whitespace().map(str::to_owned);
            let name = parts.next().unwrap();
            (name, parts.collect())
        })
        .collect()
}

#[test]
fn csp_allows_no_remote_origin_no_eval_no_inline_and_no_frames() {
    let d = directives();
    let get = |n: &str| d.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("default-src").unwrap(), ["'self'"]);
    assert_eq!(get("script-src").unwrap(), ["'self'"]);
    assert_eq!(get("style-src").unwrap(), ["'self'"]);
    assert_eq!(get("frame-src").unwrap(), ["'none'"]);
    assert_eq!(get("object-src").unwrap(), ["'none'"]);
    for (name, values) in &d {
        for v in values {
            assert!(!v.contains("unsafe"), "{name} has {v}");
            assert!(
                !(v.starts_with("https:") || v.starts_with("http:") && v != "http://ipc.localhost"),
                "{name} allows a remote origin: {v}"
            );
            assert!(!v.contains("clerk"), "{name} names a Clerk origin: {v}");
            assert_ne!(v, "*", "{name} allows everything");
        }
    }
    // Images only from the app and data: URLs (avatars fetched by Rust).
    assert_eq!(get("img-src").unwrap(), ["'self'", "data:"]);
}

#[test]
fn capabilities_are_for_the_main_window_and_local_only() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let cap: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        seen += 1;
        assert_eq!(cap["windows"], serde_json::json!(["main"]), "{path:?}");
        assert!(cap.get("remote").is_none(), "{path:?} grants remote URLs");
        assert_ne!(cap["local"], false);
        for p in cap["permissions"].as_array().unwrap() {
            let p = p.as_str().expect("plain permission names, no scopes");
            // Our commands and page zoom; no event permission (the
            // deep-link plugin announces URLs as global events; our events
            // come over a channel) and no plugin (opener, clipboard,
            // notification: Rust does those).
            assert!(
                p.starts_with("allow-") || p == "core:webview:allow-set-webview-zoom",
                "unexpected permission {p}"
            );
            assert!(!p.starts_with("core:event"), "{p}");
        }
    }
    assert_eq!(seen, 1);
}

#[test]
fn the_scheme_and_identifier_follow_the_contract() {
    let c = conf();
    assert_eq!(c["identifier"], "dev.latchkey.desktop");
    assert_eq!(
        c["plugins"]["deep-link"]["desktop"]["schemes"],
        serde_json::json!(["dev.latchkey.desktop"])
    );
    // Bundled assets, never a dev server.
    assert!(c["build"].get("devUrl").is_none());
    assert_eq!(c["build"]["frontendDist"], "../ui/dist");
}

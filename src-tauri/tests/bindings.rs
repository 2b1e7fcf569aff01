//! The committed TypeScript bindings match the Rust types.

use std::path::PathBuf;

#[test]
fn committed_typescript_bindings_are_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings/ipc.ts");
    let want = latchkey_app::bindings::typescript();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "ui/src/bindings/ipc.ts is stale: run `make bindings` and commit it"
    );
}

#[test]
fn every_command_is_declared_once_and_matches_the_one_list() {
    let sigs = latchkey_app::bindings::signatures();
    let names: Vec<&str> = sigs.iter().map(|s| s.0).collect();
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), names.len(), "a command is declared twice");
    assert_eq!(
        latchkey_app::COMMANDS,
        names.as_slice(),
        "command_list.rs and the typed bindings differ"
    );
    // The capability grants exactly these, and nothing else of ours.
    let caps: serde_json::Value =
        serde_json::from_str(include_str!("../capabilities/main.json")).unwrap();
    let mut granted: Vec<String> = caps["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(str::to_owned))
        .collect();
    let mut want: Vec<String> = latchkey_app::COMMANDS
        .iter()
        .map(|n| n.replace('_', "-"))
        .collect();
    granted.sort();
    want.sort();
    assert_eq!(
        granted, want,
        "capabilities/main.json and command_list.rs differ"
    );
}

#[test]
fn the_ui_uses_every_granted_command() {
    fn sources(dir: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("bindings") && !p.ends_with("test") {
                    sources(&p, out);
                }
            } else if (p.extension().is_some_and(|x| x == "svelte" || x == "ts"))
                && !p.to_string_lossy().ends_with(".test.ts")
            {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut ui = String::new();
    sources(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src"),
        &mut ui,
    );
    for (name, _, _) in latchkey_app::bindings::signatures() {
        assert!(
            ui.contains(&format!("call('{name}'")),
            "the UI never calls {name}: drop it from the capability, or use it"
        );
    }
}

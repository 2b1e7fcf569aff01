// The commands come from `command_list.rs` (the one list); Tauri turns each
// into an `allow-<name>` permission that `capabilities/main.json` grants to
// the main window.
macro_rules! latchkey_commands {
    ($($name:ident),* $(,)?) => {
        const COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
}
include!("command_list.rs");

fn main() {
    println!("cargo:rerun-if-changed=command_list.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("failed to run tauri-build");
}

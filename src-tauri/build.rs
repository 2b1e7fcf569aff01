/// Every IPC command; `capabilities/main.json` grants the main window these
/// (and nothing else of ours).
const COMMANDS: &[&str] = &[
    "snapshot",
    "sign_in_options",
    "start_sign_in",
    "reopen_sign_in",
    "copy_sign_in_link",
    "cancel_sign_in",
    "confirm_handoff",
    "decline_handoff",
    "switch_account",
    "organizations",
    "switch_org",
    "org_members",
    "session_details",
    "template_claims",
    "copy_token",
    "refresh",
    "devices",
    "revoke_session",
    "sign_out_other_devices",
    "sign_out",
    "sign_out_all_here",
    "sign_out_everywhere",
    "add_instance",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("failed to run tauri-build");
}
